"""The netgdb target: a kernel's side of netgdb over any shell, sans-I/O.

It connects as the kernel does (herald port 20025, client port 20026, aux2
0x2515f095) with the client transport's full-duplex receive in the kernel's
exact semantics: bytes are appended in arrival order with no duplicate check
by seqno, only what the handler accepted is acked, and nothing is accepted
while the small receive buffer is full (the withheld ack is backpressure).
Each GDB packet the stub answers goes out as one message with aux2 = its
length. The shell (a UDP socket, or the raw stack) only moves datagrams: this
class satisfies ``debugnet.inet.udpsocket.Driver``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from debugnet.errors import ErrnoError
from debugnet.netgdb.stub import GdbStub, StubState
from debugnet.transport.client_events import (
    ConnectionFailed,
    HeraldAcked,
    MessageAcked,
    RemoteClosed,
)
from debugnet.transport.config import TransportConfig
from debugnet.transport.connection import ClientConnection
from debugnet.wire.constants import NETGDB_ACKPORT, NETGDB_AUX2, NETGDB_PORT
from debugnet.wire.message import Message, MsgType

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TargetConfig:
    transport: TransportConfig = field(default_factory=TransportConfig)
    rx_buffer: int = 4096
    """Bytes received and not yet taken by the stub; a message that does not fit is refused."""
    detach_linger: float = 10.0
    """After gdb detaches, end if no FINISHED came from the proxy by then (the kernel resumed)."""
    herald_port: int = NETGDB_PORT
    client_port: int = NETGDB_ACKPORT


@dataclass(slots=True)
class TargetStats:
    accepted: int = 0
    refused: int = 0
    received_bytes: int = 0
    sent_packets: int = 0
    sent_bytes: int = 0


class NetgdbTarget:
    """A stub behind a ClientConnection; ``done`` once either side ended the session."""

    def __init__(self, stub: GdbStub, config: TargetConfig | None = None) -> None:
        self.config = config or TargetConfig()
        self.stub = stub
        self.stats = TargetStats()
        self.done = False
        self.error: ErrnoError | None = None
        self.server_port: int | None = None
        self.end_reason = ""
        self._rx = bytearray()
        self._finishing = False
        self._linger_until: float | None = None
        self.conn = ClientConnection(
            self.config.transport,
            herald_port=self.config.herald_port,
            client_port=self.config.client_port,
            herald_aux2=NETGDB_AUX2,
            rx_handler=self._accept,
            finish_handler=self._remote_finished,
            rx_dedup=False,
        )

    # -- the kernel's receive handler -----------------------------------------

    def _accept(self, msg: Message) -> bool:
        if msg.header.type != MsgType.DATA:
            return True  # acked and ignored, as the kernel's netgdb does
        if len(self._rx) + len(msg.data) > self.config.rx_buffer:
            self.stats.refused += 1
            return False
        self._rx += msg.data
        self.stats.accepted += 1
        self.stats.received_bytes += len(msg.data)
        return True

    def _remote_finished(self) -> None:
        log.info("the proxy ended the session (FINISHED)")
        self._end("proxy FINISHED")

    # -- Driver ------------------------------------------------------------------

    def receive_datagram(self, data: bytes, now: float, src_port: int) -> None:
        self.conn.receive_datagram(data, now, src_port)
        self._events()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, int]]:
        stub = self.stub
        if self.server_port is not None and not self.done:
            if self._rx:
                data = bytes(self._rx)
                self._rx.clear()
                stub.receive(data, now)
            self._send_units()
            self._after_stub(now)
        out = self.conn.datagrams_to_send(now)
        self._events()
        return out

    def next_deadline(self) -> float | None:
        if self.done:
            return None
        deadlines = [
            d
            for d in (self.conn.next_deadline(), self.stub.next_deadline(), self._linger_until)
            if d is not None
        ]
        if self._rx:
            deadlines.append(0.0)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        self.conn.handle_timer(now)
        if self.server_port is not None:
            self.stub.handle_timer(now)
        if self._linger_until is not None and now >= self._linger_until:
            self._end("no FINISHED after detach")
        self._events()

    # -- commands ----------------------------------------------------------------

    def finish(self) -> None:
        """End from the kernel's side: FINISHED, which the proxy acks and gdb sees as a close."""
        if not self._finishing and not self.done:
            self._finishing = True
            self.conn.finish()

    def close(self) -> None:
        self.conn.close()

    # -- internals ---------------------------------------------------------------

    def _send_units(self) -> None:
        for unit in self.stub.take_output():
            self.conn.send(MsgType.DATA, unit, aux2=len(unit))
            self.stats.sent_packets += 1
            self.stats.sent_bytes += len(unit)

    def _after_stub(self, now: float) -> None:
        state = self.stub.state
        if state is StubState.KILLED:
            self.finish()
        elif state is StubState.DETACHED and self._linger_until is None:
            self._linger_until = now + self.config.detach_linger

    def _events(self) -> None:
        while (ev := self.conn.next_event()) is not None:
            if isinstance(ev, HeraldAcked):
                self.server_port = ev.server_port
                log.info("proxy answered from port %d", ev.server_port)
                self._send_units()  # the unsolicited initial stop reply
            elif isinstance(ev, MessageAcked) and ev.type == MsgType.FINISHED:
                self._end("target FINISHED")
            elif isinstance(ev, RemoteClosed):
                self._end("proxy FINISHED")
            elif isinstance(ev, ConnectionFailed):
                if self.done:
                    continue  # the proxy's FINISHED cut our unacked replies short: gdb is gone
                if self._finishing:
                    self._end("target FINISHED (unacked)")
                else:
                    self.error = ev.error
                    self._end(f"failed: {ev.error}")

    def _end(self, reason: str) -> None:
        if not self.done:
            self.done = True
            self.end_reason = reason
