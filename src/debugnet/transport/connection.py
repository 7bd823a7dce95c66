"""The client side of a debugnet connection, sans-I/O.

The shell feeds every UDP payload that reached the client port together with
its source port and the time, sends what ``datagrams_to_send`` returns to the
port given with each datagram, and calls ``handle_timer`` at
``next_deadline``. Messages are queued by ``send`` and go out as the chosen
strategy allows; what happened comes back as events.

One ``ClientStack`` holds at most one open connection, as the kernel's single
PCB does (EBUSY otherwise).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

from debugnet.errors import (
    Busy,
    ConnectionReset,
    ErrnoError,
    InvalidArgument,
    LocalProtocolError,
    NoSpace,
    WireError,
)
from debugnet.transport.client_events import (
    ClientEvent,
    ConnectionFailed,
    HeraldAcked,
    MessageAcked,
    RemoteClosed,
)
from debugnet.transport.config import Mode, TransportConfig
from debugnet.transport.seed import SeedStrategy
from debugnet.transport.strategy import OutMessage, SendStrategy, TransportStats, log_level
from debugnet.transport.window import WindowStrategy
from debugnet.wire.constants import NETDUMP_ACKPORT, NETDUMP_PORT
from debugnet.wire.message import ACK, HEADER, Message, MessageHeader, MsgType, unpack_message

log = logging.getLogger(__name__)

_HDR = MessageHeader.SIZE
_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF
_FINISHED = int(MsgType.FINISHED)
# Sent alone, and nothing after them starts until they are fully acked: the key
# must reach the server before any data so that a partial dump stays usable
# (PROTOCOL.md section 7.3), and FINISHED must come after everything.
_BARRIERS = frozenset({int(MsgType.EKCD_KEY), _FINISHED})

RxHandler = Callable[[Message], bool]
"""Full duplex: given a message from the peer, True = accepted (ack it), False = refused."""
FinishHandler = Callable[[], None]


class ConnState(Enum):
    INIT = "init"
    HAVE_GW_MAC = "have gateway MAC"
    GOT_HERALD_PORT = "got herald port"
    REMOTE_CLOSED = "remote closed"


class Trigger(Enum):
    NEXT_HOP_KNOWN = "next hop known"
    FIRST_ACK = "first ack"
    REMOTE_FINISHED = "remote FINISHED"


TRANSITIONS: dict[tuple[ConnState, Trigger], ConnState] = {
    (ConnState.INIT, Trigger.NEXT_HOP_KNOWN): ConnState.HAVE_GW_MAC,
    (ConnState.HAVE_GW_MAC, Trigger.FIRST_ACK): ConnState.GOT_HERALD_PORT,
    (ConnState.HAVE_GW_MAC, Trigger.REMOTE_FINISHED): ConnState.REMOTE_CLOSED,
    (ConnState.GOT_HERALD_PORT, Trigger.REMOTE_FINISHED): ConnState.REMOTE_CLOSED,
    (ConnState.REMOTE_CLOSED, Trigger.REMOTE_FINISHED): ConnState.REMOTE_CLOSED,
}

_GOT_PORT = ConnState.GOT_HERALD_PORT

_STRATEGIES: dict[Mode, type[SendStrategy]] = {
    Mode.SEED: SeedStrategy,
    Mode.WINDOW: WindowStrategy,
}


class ClientConnection:
    """One debugnet connection: herald, reliable messages, optional full-duplex receive."""

    def __init__(
        self,
        config: TransportConfig | None = None,
        *,
        herald_port: int = NETDUMP_PORT,
        client_port: int = NETDUMP_ACKPORT,
        herald_data: bytes = b"",
        herald_aux2: int = 0,
        herald_offset: int = 0,
        rx_handler: RxHandler | None = None,
        finish_handler: FinishHandler | None = None,
        next_hop_known: bool = True,
        stack: ClientStack | None = None,
        rx_dedup: bool = True,
    ) -> None:
        self.config = config or TransportConfig()
        self.herald_port = herald_port
        self.client_port = client_port
        self.server_port = herald_port
        self.state = ConnState.INIT
        self.stats = TransportStats()
        self.failure: ErrnoError | None = None
        self._rx_handler = rx_handler
        self._finish_handler = finish_handler
        self._stack = stack
        self._closed = False
        self._seqno = 1
        self._next_ident = 0
        self._payload = self.config.payload_size
        self._done: list[OutMessage] = []
        self._events: deque[ClientEvent] = deque()
        self._acks_out: list[bytes] = []
        self._rx_seen: set[int] = set()
        self._rx_dedup = rx_dedup
        """False = the kernel's receive: every copy goes to the handler (PROTOCOL.md 10)."""
        strategy_cls = _STRATEGIES[self.config.mode]
        self.strategy: SendStrategy = strategy_cls(self.config, self.stats, self._done)
        self._log_level = log_level(self.config)
        self.herald_id = self._queue(
            MsgType.HERALD, herald_data, herald_offset, herald_aux2, barrier=True
        )
        if next_hop_known:
            self.next_hop_resolved()

    # -- state -------------------------------------------------------------------

    def _fire(self, trigger: Trigger) -> None:
        key = (self.state, trigger)
        if key not in TRANSITIONS:
            raise LocalProtocolError(f"{trigger.value} not allowed in state {self.state.value}")
        new = TRANSITIONS[key]
        if new is not self.state:
            log.log(self._log_level, "connection: %s -> %s", self.state.value, new.value)
        self.state = new

    def next_hop_resolved(self) -> None:
        """The next hop's MAC is known (ARP done, or a UDP socket that needs none)."""
        self._check_open()
        self._fire(Trigger.NEXT_HOP_KNOWN)

    @property
    def idle(self) -> bool:
        """Nothing queued or unacked."""
        return self.strategy.outstanding == 0

    @property
    def outstanding(self) -> int:
        """Packets queued or in flight and not yet acked."""
        return self.strategy.outstanding

    # -- commands ----------------------------------------------------------------

    def send(self, type: int, data: bytes = b"", *, offset_start: int = 0, aux2: int = 0) -> int:
        """Queue one message; return its id, which ``MessageAcked`` will carry.

        Raises ConnectionReset once the peer has closed, and the connection's
        failure once it has failed.
        """
        self._check_open()
        if self.state is ConnState.REMOTE_CLOSED:
            raise ConnectionReset("the server closed the connection")
        if self.failure is not None:
            raise self.failure
        return self._queue(type, data, offset_start, aux2, barrier=type in _BARRIERS)

    def finish(self) -> int:
        """Queue the empty FINISHED message, sent once all before it is acked."""
        return self.send(MsgType.FINISHED)

    def close(self) -> None:
        """Free the connection; its stack may open another."""
        if self._closed:
            return
        self._closed = True
        self.strategy.abort()
        if self._stack is not None:
            self._stack._release(self)

    def _queue(self, type: int, data: bytes, offset: int, aux2: int, *, barrier: bool) -> int:
        if not 0 <= type <= _U32 or not 0 <= aux2 <= _U32:
            raise InvalidArgument(f"message type {type} or aux2 {aux2} not a 32-bit value")
        size = len(data)
        if not offset >= 0 or offset + size > _U64 or size > _U32:
            raise InvalidArgument(f"offset {offset} with {size} bytes leaves 64-bit range")
        step = self._payload
        first = self._seqno
        if first + max(-(-size // step), 1) - 1 > _U32:
            raise NoSpace("the 32-bit seqno space of this connection is used up")
        pack = HEADER.pack
        view = memoryview(data)
        packets: list[bytes] = []
        seqno = first
        pos = 0
        while pos < size or (pos == 0 and size == 0):
            n = min(step, size - pos)
            packets.append(pack(type, seqno, offset + pos, n, aux2) + view[pos : pos + n])
            seqno += 1
            pos += n
            if size == 0:
                break
        self._seqno = seqno
        ident = self._next_ident
        self._next_ident += 1
        self.strategy.submit(OutMessage(ident, type, first, packets, barrier))
        return ident

    # -- input -------------------------------------------------------------------

    def receive_datagram(
        self, data: bytes | bytearray | memoryview, now: float, src_port: int
    ) -> None:
        """One UDP payload that reached the client port from the server's address."""
        if len(data) == 4 and self.state is _GOT_PORT and not self._closed:
            self.strategy.on_ack(int.from_bytes(data, "big"), now)  # the hot path
            if self._done:
                self._collect()
            return
        if self._closed or self.state is ConnState.INIT:
            self.stats.dropped_bad += 1
            return
        if len(data) == 4:
            if self.state is ConnState.HAVE_GW_MAC:
                self.server_port = src_port
                self._fire(Trigger.FIRST_ACK)
                self._events.append(HeraldAcked(src_port))
            self.strategy.on_ack(ACK.unpack_from(data)[0], now)
            if self._done:
                self._collect()
            return
        self._receive_message(data)

    def _receive_message(self, data: bytes | bytearray | memoryview) -> None:
        handler = self._rx_handler
        if handler is None:
            log.log(self._log_level, "ignoring non-ack packet on a half-duplex connection")
            self.stats.dropped_bad += 1
            return
        try:  # the kernel's looser rule: bytes past mh_len are ignored
            mtype, seqno, offset, length, aux2 = unpack_message(data, exact=False)
        except WireError as exc:
            log.log(self._log_level, "dropping bad message (%d bytes): %s", len(data), exc)
            self.stats.dropped_bad += 1
            return
        if mtype == _FINISHED:
            self._remote_finished()
            return
        if self._rx_dedup and seqno in self._rx_seen:
            self.stats.rx_duplicates += 1
            self._acks_out.append(ACK.pack(seqno))
            return
        msg = Message(
            MessageHeader(mtype, seqno, offset, length, aux2), bytes(data[_HDR : _HDR + length])
        )
        if handler(msg):
            if self._rx_dedup:
                self._rx_seen.add(seqno)
            self.stats.rx_accepted += 1
            self._acks_out.append(ACK.pack(seqno))
        else:
            self.stats.rx_refused += 1

    def _remote_finished(self) -> None:
        log.info("remote shut down the connection")
        first = self.state is not ConnState.REMOTE_CLOSED
        self._fire(Trigger.REMOTE_FINISHED)
        if not first:
            return
        self._events.append(RemoteClosed())
        if self._finish_handler is not None:
            self._finish_handler()
        if self.strategy.outstanding and self.failure is None:
            self._fail(ConnectionReset("the server closed the connection (FINISHED)"))

    # -- output and timers -------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, int]]:
        """Datagrams with the UDP destination port each must go to."""
        if self._closed or self.state is ConnState.INIT:
            return []
        port = self.server_port
        out = [(d, port) for d in self.strategy.transmit(now)] if self.failure is None else []
        if self._acks_out:
            out.extend((a, port) for a in self._acks_out)
            self._acks_out = []
        if self._done:
            self._collect()
        return out

    def next_deadline(self) -> float | None:
        if self._closed or self.failure is not None or self.state is ConnState.INIT:
            return None
        return self.strategy.next_deadline()

    def handle_timer(self, now: float) -> None:
        if self._closed or self.failure is not None:
            return
        strategy = self.strategy
        strategy.handle_timer(now)
        if self._done:
            self._collect()
        if strategy.failure is not None:
            self._fail(strategy.failure)

    def next_event(self) -> ClientEvent | None:
        return self._events.popleft() if self._events else None

    # -- internals ---------------------------------------------------------------

    def _collect(self) -> None:
        events = self._events
        for msg in self._done:
            events.append(MessageAcked(msg.ident, msg.type))
        self._done.clear()

    def _fail(self, error: ErrnoError) -> None:
        self.failure = error
        self.strategy.abort()
        self._events.append(ConnectionFailed(error))
        log.info("connection failed: %s", error)

    def _check_open(self) -> None:
        if self._closed:
            raise LocalProtocolError("connection already closed")


class ClientStack:
    """What the kernel keeps globally: at most one connection in use."""

    def __init__(self) -> None:
        self._active: ClientConnection | None = None

    @property
    def active(self) -> ClientConnection | None:
        return self._active

    def connect(self, config: TransportConfig | None = None, **kwargs: Any) -> ClientConnection:
        """Open the one connection (keyword arguments as ClientConnection's); EBUSY if open."""
        if self._active is not None:
            raise Busy("only one debugnet connection at a time")
        conn = ClientConnection(config, stack=self, **kwargs)
        self._active = conn
        return conn

    def _release(self, conn: ClientConnection) -> None:
        if self._active is conn:
            self._active = None
