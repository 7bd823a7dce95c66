"""The server side of a full-duplex debugnet session (netgdb's proxy), sans-I/O.

Receiving, it delivers the peer's messages exactly once and in seqno order:
every message is acked (a duplicate again, so a lost ack stops the peer's
resends), messages ahead of a gap wait in a bounded reorder buffer. Sending,
it keeps one message in flight, as the kernel needs (it appends what it gets
in arrival order, with no duplicate check: PROTOCOL.md section 10), and
resends only when the ack is overdue. A kernel withholding acks while its
buffer is full is backpressure, not failure: the give-up budget is minutes.

Ending: ``finish`` sends our FINISHED a few times with the next seqno and
expects no ack (the kernel acks none); a FINISHED from the peer, in its turn
in the stream, is acked and re-acked while the session lingers.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from debugnet.errors import InvalidArgument, LocalProtocolError
from debugnet.transport.duplex_config import DuplexConfig
from debugnet.transport.duplex_events import (
    DuplexEvent,
    PeerFinished,
    PeerSilent,
    SendFailed,
    SessionClosed,
    StreamData,
)
from debugnet.transport.rto import RtoEstimator
from debugnet.wire.message import ACK, HEADER, MessageHeader, MsgType

log = logging.getLogger(__name__)

_HDR = MessageHeader.SIZE
_DATA, _FINISHED, _HERALD = int(MsgType.DATA), int(MsgType.FINISHED), int(MsgType.HERALD)
_U32 = 0xFFFF_FFFF


class DuplexState(Enum):
    OPEN = "open"
    FINISHING = "sending FINISHED"
    LINGER = "peer finished"
    CLOSED = "closed"


class DropReason(Enum):
    RUNT = "shorter than a header"
    LENGTH = "mh_len does not match"
    TOO_FAR = "too far ahead of the next expected seqno"
    CLOSED = "session no longer open"
    TYPE = "unexpected message type"


@dataclass(slots=True)
class DuplexStats:
    received: int = 0
    delivered: int = 0
    delivered_bytes: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    sent: int = 0
    sent_bytes: int = 0
    retransmissions: int = 0
    acks_sent: int = 0
    stale_acks: int = 0
    dropped: dict[DropReason, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Flight:
    seqno: int
    datagram: bytes
    first_sent: float
    last_sent: float
    tx: int = 1
    due: bool = False


@dataclass(frozen=True, slots=True)
class _Pending:
    type: int
    offset: int
    aux2: int
    data: bytes


class DuplexSession:
    """One peer that heralded us, acked from the session port, with traffic both ways."""

    def __init__(
        self,
        herald_seqno: int,
        now: float,
        config: DuplexConfig | None = None,
        *,
        label: str = "",
        first_seqno: int = 1,
    ) -> None:
        self.config = config or DuplexConfig()
        self.label = label or "session"
        self.state = DuplexState.OPEN
        self.stats = DuplexStats()
        self.herald_seqno = herald_seqno
        self.last_heard = now
        self._expected = (herald_seqno + 1) & _U32
        self._ahead: dict[int, _Pending] = {}
        self._acks: list[bytes] = [ACK.pack(herald_seqno)]
        self._queue: deque[bytes] = deque()
        self._flight: _Flight | None = None
        self._next_seqno = first_seqno
        self._rto = RtoEstimator(self.config.rto_initial, self.config.rto_min, self.config.rto_max)
        self._events: deque[DuplexEvent] = deque()
        self._finish_left = 0
        self._finish_at = 0.0
        self._finished_seqno: int | None = None
        self._linger_until = 0.0
        self._heard_data = False

    # -- input ---------------------------------------------------------------

    def receive_datagram(self, payload: bytes | bytearray | memoryview, now: float) -> None:
        """One UDP payload from the peer's address to the session port."""
        n = len(payload)
        if n == ACK.size:
            self._on_ack(ACK.unpack_from(payload)[0], now)
            return
        if n < _HDR:
            self._drop(DropReason.RUNT, n)
            return
        mtype, seqno, offset, length, aux2 = HEADER.unpack_from(payload)
        if length != n - _HDR:
            self._drop(DropReason.LENGTH, length)
            return
        if (
            self.state is DuplexState.LINGER
            and mtype == _FINISHED
            and seqno == self._finished_seqno
        ):
            self._ack(seqno)
            return
        if self.state is not DuplexState.OPEN:
            self._drop(DropReason.CLOSED, mtype)
            return
        self.last_heard = now
        self.stats.received += 1
        if mtype == _HERALD and seqno == self.herald_seqno:
            self.receive_herald(seqno, now)
            return
        self._on_message(_Pending(mtype, offset, aux2, bytes(payload[_HDR:])), seqno)

    def receive_herald(self, seqno: int, now: float) -> bool:
        """The peer heralded again (our ack was lost): ack it again if nothing came since."""
        if self.state is not DuplexState.OPEN or self._heard_data or seqno != self.herald_seqno:
            return False
        self.last_heard = now
        self._ack(seqno)
        return True

    def _on_message(self, msg: _Pending, seqno: int) -> None:
        ahead = (seqno - self._expected) & _U32
        if ahead >= 1 << 31:  # behind: delivered already, our ack was lost
            self.stats.duplicates += 1
            self._ack(seqno)
            return
        if ahead > self.config.reorder_window:
            self._drop(DropReason.TOO_FAR, seqno)  # unacked: the peer will resend
            return
        self._heard_data = True
        self._ack(seqno)
        if ahead:
            if seqno in self._ahead:
                self.stats.duplicates += 1
            else:
                self.stats.out_of_order += 1
                self._ahead[seqno] = msg
            return
        self._deliver(msg, seqno)
        while self.state is DuplexState.OPEN and self._expected in self._ahead:
            self._deliver(self._ahead.pop(self._expected), self._expected)

    def _deliver(self, msg: _Pending, seqno: int) -> None:
        self._expected = (seqno + 1) & _U32
        if msg.type == _FINISHED:
            log.info("%s: peer sent FINISHED", self.label)
            self._finished_seqno = seqno
            self._ahead.clear()
            self._abandon_sends()
            self.state = DuplexState.LINGER
            self._linger_until = self.last_heard + self.config.linger
            self._events.append(PeerFinished())
            return
        if msg.type != _DATA:
            self._drop(DropReason.TYPE, msg.type)  # acked, so the stream goes on
            return
        self.stats.delivered += 1
        self.stats.delivered_bytes += len(msg.data)
        self._events.append(StreamData(msg.data, msg.aux2, msg.offset))

    def _on_ack(self, seqno: int, now: float) -> None:
        flight = self._flight
        if flight is None or seqno != flight.seqno or self.state is not DuplexState.OPEN:
            self.stats.stale_acks += 1
            return
        self.last_heard = now
        if flight.tx == 1:
            self._rto.sample(now - flight.first_sent)
        self._flight = None

    # -- commands --------------------------------------------------------------

    def send(self, data: bytes, *, offset: int = 0, aux2: int = 0) -> int:
        """Queue one DATA message of at most ``config.payload_size`` bytes; return its seqno."""
        if self.state is not DuplexState.OPEN:
            raise LocalProtocolError(f"send in state {self.state.value}")
        if len(data) > self.config.payload_size:
            raise InvalidArgument(
                f"message of {len(data)} bytes exceeds {self.config.payload_size} at this MTU"
            )
        seqno = self._take_seqno()
        self._queue.append(HEADER.pack(_DATA, seqno, offset, len(data), aux2) + data)
        return seqno

    def finish(self, now: float) -> None:
        """End from our side: FINISHED with the next seqno, ``finish_repeats`` times, unacked."""
        if self.state is not DuplexState.OPEN:
            return
        self._abandon_sends()
        self._finished_seqno = self._take_seqno()
        self._finish_left = self.config.finish_repeats
        self._finish_at = now
        self.state = DuplexState.FINISHING

    def close(self) -> None:
        """Stop at once: nothing more is sent or accepted."""
        if self.state is DuplexState.CLOSED:
            return
        self._abandon_sends()
        self._acks.clear()
        self.state = DuplexState.CLOSED
        self._events.append(SessionClosed())

    # -- output and timers -----------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[bytes]:
        out = self._acks
        self._acks = []
        self.stats.acks_sent += len(out)
        state = self.state
        if state is DuplexState.OPEN:
            flight = self._flight
            if flight is None and self._queue:
                data = self._queue.popleft()
                self._flight = _Flight(HEADER.unpack_from(data)[1], data, now, now)
                self.stats.sent += 1
                self.stats.sent_bytes += len(data) - _HDR
                out.append(data)
            elif flight is not None and flight.due:
                flight.due = False
                flight.tx += 1
                flight.last_sent = now
                self.stats.retransmissions += 1
                out.append(flight.datagram)
        elif state is DuplexState.FINISHING and now >= self._finish_at:
            assert self._finished_seqno is not None
            out.append(HEADER.pack(_FINISHED, self._finished_seqno, 0, 0, 0))
            self._finish_left -= 1
            self._finish_at = now + self.config.finish_interval
            if self._finish_left == 0:
                self.close()
        return out

    def next_deadline(self) -> float | None:
        state = self.state
        if state is DuplexState.FINISHING:
            return self._finish_at
        if state is DuplexState.LINGER:
            return self._linger_until
        if state is not DuplexState.OPEN:
            return None
        deadlines: list[float] = []
        if self.config.timeout is not None:
            deadlines.append(self.last_heard + self.config.timeout)
        flight = self._flight
        if flight is not None:
            deadlines.append(flight.last_sent + self._rto.rto)
            deadlines.append(flight.first_sent + self.config.send_budget)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        state = self.state
        if state is DuplexState.LINGER:
            if now >= self._linger_until:
                self.close()
            return
        if state is not DuplexState.OPEN:
            return
        timeout = self.config.timeout
        if timeout is not None and now >= self.last_heard + timeout:
            log.info("%s: peer silent for %.1f s", self.label, now - self.last_heard)
            self._events.append(PeerSilent(now - self.last_heard))
            self.close()
            return
        flight = self._flight
        if flight is None:
            return
        if now >= flight.first_sent + self.config.send_budget:
            waited = now - flight.first_sent
            log.info("%s: message %d unacked for %.1f s", self.label, flight.seqno, waited)
            self._events.append(SendFailed(flight.seqno, waited))
            self.close()
        elif not flight.due and now >= flight.last_sent + self._rto.rto:
            log.debug("%s: ack of %d overdue; resending", self.label, flight.seqno)
            flight.due = True
            self._rto.backoff()

    def next_event(self) -> DuplexEvent | None:
        return self._events.popleft() if self._events else None

    # -- queries ---------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing queued or waiting for an ack."""
        return self._flight is None and not self._queue

    @property
    def queued(self) -> int:
        return len(self._queue) + (self._flight is not None)

    @property
    def rto(self) -> float:
        return self._rto.rto

    # -- internals -------------------------------------------------------------

    def _take_seqno(self) -> int:
        seqno = self._next_seqno
        self._next_seqno = (seqno + 1) & _U32
        return seqno

    def _abandon_sends(self) -> None:
        self._queue.clear()
        self._flight = None

    def _ack(self, seqno: int) -> None:
        self._acks.append(ACK.pack(seqno))

    def _drop(self, reason: DropReason, value: int) -> None:
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + 1
        log.debug("%s: dropped datagram (%s: %d)", self.label, reason.value, value)
