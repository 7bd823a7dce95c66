"""One client's dump, as the server sees it, without sockets or clocks.

The shell feeds every datagram from the client with the current time and
drains what it must act on from ``next_event()``; acks queue up for
``datagrams_to_send(now)``; ``next_deadline()`` says when ``handle_timer(now)``
is due. States change only through ``TRANSITIONS``. FINISHED is never acked
by the session on its own: the shell must first make the dump durable and
then call ``confirm_finished`` -- that ordering is what makes an ack of
FINISHED mean "the dump is on disk".
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from debugnet.errors import LocalProtocolError, WireError
from debugnet.transport.ranges import RangeSet
from debugnet.transport.server_events import (
    DataReceived,
    DataRunReceived,
    FinishRequested,
    KdhReceived,
    KeyReceived,
    ServerEvent,
    SessionEnded,
    SessionTimedOut,
)
from debugnet.wire.message import (
    ACK,
    HEADER,
    Herald,
    MessageHeader,
    MessageReject,
    MsgType,
    parse_herald,
    unpack_message,
)

__all__ = [
    "DropReason",
    "Herald",
    "ServerSession",
    "SessionConfig",
    "SessionState",
    "SessionStats",
    "parse_herald",
]

log = logging.getLogger(__name__)

_pack_ack = ACK.pack

_HDR = MessageHeader.SIZE
_DATA, _KDH, _KEY, _FINISHED = (
    int(MsgType.DATA),
    int(MsgType.KDH),
    int(MsgType.EKCD_KEY),
    int(MsgType.FINISHED),
)


class SessionState(Enum):
    OPEN = "open"
    FINISHING = "finishing"
    LINGER = "linger"
    DONE = "done"
    TIMED_OUT = "timed out"
    FAILED = "failed"


class Trigger(Enum):
    FINISHED = "FINISHED received"
    CONFIRMED = "finish confirmed"
    LINGER_OVER = "linger over"
    TIMEOUT = "timed out"
    STORAGE_FAILED = "storage failed"


_S = SessionState
TRANSITIONS: dict[tuple[SessionState, Trigger], SessionState] = {
    (_S.OPEN, Trigger.FINISHED): _S.FINISHING,
    (_S.OPEN, Trigger.TIMEOUT): _S.TIMED_OUT,
    (_S.FINISHING, Trigger.CONFIRMED): _S.LINGER,
    (_S.FINISHING, Trigger.TIMEOUT): _S.TIMED_OUT,
    (_S.LINGER, Trigger.LINGER_OVER): _S.DONE,
    **{(state, Trigger.STORAGE_FAILED): _S.FAILED for state in SessionState},
}
"""Every state change the session makes; anything else is a LocalProtocolError."""


class DropReason(StrEnum):
    """Why a datagram on a session port was dropped: the keys of ``SessionStats.dropped``."""

    RUNT = "runt"
    LENGTH_MISMATCH = "length mismatch"
    UNEXPECTED_TYPE = "unexpected type"
    AFTER_FINISHING = "after finishing"
    AFTER_LINGER = "after linger"
    AFTER_DONE = "after done"
    AFTER_TIMED_OUT = "after timed out"
    AFTER_FAILED = "after failed"


_AFTER = {
    _S.FINISHING: DropReason.AFTER_FINISHING,
    _S.LINGER: DropReason.AFTER_LINGER,
    _S.DONE: DropReason.AFTER_DONE,
    _S.TIMED_OUT: DropReason.AFTER_TIMED_OUT,
    _S.FAILED: DropReason.AFTER_FAILED,
}
_REJECT = {
    MessageReject.RUNT: DropReason.RUNT,
    MessageReject.LENGTH_MISMATCH: DropReason.LENGTH_MISMATCH,
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    timeout: float = 600.0
    """Seconds of silence after which the dump ends as timed out."""
    linger: float = 10.0
    """After FINISHED is acked, keep re-acking a retransmitted FINISHED this long."""


@dataclass(slots=True)
class SessionStats:
    packets: int = 0
    data_packets: int = 0
    data_bytes: int = 0
    acks: int = 0
    dropped: dict[DropReason, int] = field(default_factory=dict)

    def drop(self, reason: DropReason) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


class ServerSession:
    """The per-client half of netdumpd's protocol (PROTOCOL.md section 9)."""

    def __init__(
        self, herald: Herald, now: float, config: SessionConfig | None = None, label: str = ""
    ) -> None:
        self.config = config or SessionConfig()
        self.label = label
        self.herald = herald
        self.state = SessionState.OPEN
        self.stats = SessionStats()
        self.ranges = RangeSet()
        self.any_data = False
        self.started = now
        self.last_heard = now
        self._finished_seqno: int | None = None
        self._closed_at = 0.0
        self._acks: list[bytes] = [_pack_ack(herald.seqno)]
        self._events: deque[ServerEvent] = deque()

    # -- input ---------------------------------------------------------------

    def receive_datagram(self, payload: bytes | bytearray | memoryview, now: float) -> None:
        """Take one UDP payload from the client; what to act on comes from ``next_event``."""
        try:
            mtype, seqno, offset, length, _aux2 = unpack_message(payload)
        except WireError as exc:
            reason = exc.reason
            assert isinstance(reason, MessageReject)
            self._drop(_REJECT[reason], exc.value)
            return
        state = self.state
        if state is not SessionState.OPEN:
            if (
                state is SessionState.LINGER
                and mtype == _FINISHED
                and seqno == self._finished_seqno
            ):
                self._ack(seqno)
            else:
                self._drop(_AFTER[state], mtype)
            return
        events = self._events
        if mtype == _DATA:  # batches take receive_datagrams' inlined path instead
            self._heard(now)
            self._ack(seqno)
            self.any_data = True
            self.stats.data_packets += 1
            self.stats.data_bytes += length
            self.ranges.add(offset, offset + length)
            events.append(DataReceived(offset, payload[_HDR:]))
        elif mtype == _KDH:
            self._heard(now)
            self._ack(seqno)
            self.any_data = True
            events.append(KdhReceived(bytes(payload[_HDR:])))
        elif mtype == _KEY:
            self._heard(now)
            self._ack(seqno)
            events.append(KeyReceived(bytes(payload[_HDR:]), offset))
        elif mtype == _FINISHED:
            self._heard(now)
            self._fire(Trigger.FINISHED)
            self._finished_seqno = seqno
            events.append(FinishRequested())
        else:
            self._drop(DropReason.UNEXPECTED_TYPE, mtype)

    def receive_datagrams(self, datagrams: list[memoryview] | list[bytes], now: float) -> None:
        """Take a batch of datagrams; contiguous DATA becomes one DataRunReceived per run.

        Behaves exactly like ``receive_datagram`` on each in turn, but a
        windowed client's 64 packets cost one event and one range update
        instead of 64. Events keep the order of the datagrams. The length
        rule is ``unpack_message``'s, inlined here for DATA only: anything
        that fails it takes ``receive_datagram``'s path and is dropped there.
        """
        acks = self._acks
        unpack, pack, data_type, open_ = HEADER.unpack_from, _pack_ack, _DATA, SessionState.OPEN
        pieces: list[bytes | bytearray | memoryview] = []
        start = end = -1
        count = total = 0
        for payload in datagrams:
            n = len(payload)
            if n >= _HDR and self.state is open_:
                mtype, seqno, offset, length, _aux2 = unpack(payload)
                if mtype == data_type and length == n - _HDR:
                    acks.append(pack(seqno))
                    count += 1
                    total += length
                    if offset != end:
                        self._end_run(start, end, pieces)
                        pieces = []
                        start = end = offset
                    pieces.append(payload[_HDR:])
                    end += length
                    continue
            self._end_run(start, end, pieces)
            pieces, start, end = [], -1, -1
            self.receive_datagram(payload, now)
        self._end_run(start, end, pieces)
        if count:
            stats = self.stats
            stats.packets += count
            stats.data_packets += count
            stats.data_bytes += total
            self.any_data = True
            self.last_heard = now

    def _end_run(self, start: int, end: int, pieces: list[bytes | bytearray | memoryview]) -> None:
        if pieces:
            self._events.append(DataRunReceived(start, tuple(pieces), end - start))
            self.ranges.add(start, end)

    def receive_herald(self, herald: Herald, now: float) -> bool:
        """A herald from this session's client reached the listener again.

        Before any data it is a retransmission (our ack was lost): ack again
        and return True. After data it means the client started over: return
        False and let the shell end this session as timed out.
        """
        if self.state is SessionState.OPEN and not self.any_data:
            self.last_heard = now
            self._ack(herald.seqno)
            return True
        return False

    # -- commands from the shell ----------------------------------------------

    def confirm_finished(self, now: float) -> None:
        """The shell has written and fsynced everything: now FINISHED may be acked."""
        if self.state is not SessionState.FINISHING or self._finished_seqno is None:
            raise LocalProtocolError(f"confirm_finished in state {self.state.value}")
        self._fire(Trigger.CONFIRMED)
        self._ack(self._finished_seqno)
        self._closed_at = now

    def fail(self) -> None:
        """Storage failed: ack nothing more, not even what is queued."""
        self._acks.clear()
        self._fire(Trigger.STORAGE_FAILED)

    def time_out(self, now: float) -> None:
        """End the session now (shutdown, or a new herald after data).

        An open dump ends as timed out; a finished one stops lingering.
        """
        if self.state in (SessionState.OPEN, SessionState.FINISHING):
            self._fire(Trigger.TIMEOUT)
            self._acks.clear()
            self._events.append(SessionTimedOut(now - self.last_heard))
        elif self.state is SessionState.LINGER:
            self._fire(Trigger.LINGER_OVER)
            self._events.append(SessionEnded())

    # -- output and timers ---------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[bytes]:
        """The acks due. ``now`` as for ClientConnection; acks wait for no timer."""
        acks = self._acks
        if not acks:
            return acks
        self._acks = []
        self.stats.acks += len(acks)
        return acks

    def next_event(self) -> ServerEvent | None:
        """The oldest event the shell has not taken yet, or None."""
        return self._events.popleft() if self._events else None

    def next_deadline(self) -> float | None:
        if self.state in (SessionState.OPEN, SessionState.FINISHING):
            return self.last_heard + self.config.timeout
        if self.state is SessionState.LINGER:
            return self._closed_at + self.config.linger
        return None

    def handle_timer(self, now: float) -> None:
        """Act on the deadline ``next_deadline`` reported, if it has come."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return
        if self.state is SessionState.LINGER:
            self._fire(Trigger.LINGER_OVER)
            self._events.append(SessionEnded())
        else:  # OPEN or FINISHING: the client (or the shell's confirmation) is overdue
            self.time_out(now)

    def missing(self, length: int) -> list[tuple[int, int]]:
        """Holes in ``[0, length)``: what the dump lacks if the KDH says ``length``."""
        return self.ranges.missing(0, length)

    # -- internals -----------------------------------------------------------

    def _fire(self, trigger: Trigger) -> None:
        try:
            self.state = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise LocalProtocolError(
                f"{trigger.value} not allowed in state {self.state.value}"
            ) from None

    def _heard(self, now: float) -> None:
        self.stats.packets += 1
        self.last_heard = now

    def _ack(self, seqno: int) -> None:
        self._acks.append(_pack_ack(seqno))

    def _drop(self, reason: DropReason, value: object) -> None:
        self.stats.drop(reason)
        log.debug("%s: dropped datagram (%s: %s)", self.label or "session", reason.value, value)
