"""One client's dump, as the server sees it, without sockets or clocks.

The shell feeds every datagram from the client with the current time and gets
back at most one event; acks queue up for ``datagrams_to_send``. FINISHED is
never acked by the session on its own: the shell must first make the dump
durable and then call ``confirm_finished`` -- that ordering is what makes an
ack of FINISHED mean "the dump is on disk".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from debugnet.errors import LocalProtocolError, WireError
from debugnet.transport.events import (
    DataReceived,
    DataRunReceived,
    FinishRequested,
    KdhReceived,
    KeyReceived,
    ServerEvent,
    SessionEnded,
    SessionTimedOut,
)
from debugnet.transport.ranges import RangeSet
from debugnet.wire.constants import HERALD_PATH_MAX
from debugnet.wire.message import ACK, HEADER, MessageHeader, MsgType

log = logging.getLogger(__name__)

_pack_ack = ACK.pack

_HDR = MessageHeader.SIZE
_DATA, _KDH, _KEY, _FINISHED, _HERALD = (
    int(MsgType.DATA),
    int(MsgType.KDH),
    int(MsgType.EKCD_KEY),
    int(MsgType.FINISHED),
    int(MsgType.HERALD),
)


@dataclass(frozen=True, slots=True)
class Herald:
    """A valid HERALD: its seqno and the path the client asked for, if usable."""

    seqno: int
    aux2: int = 0
    path: str | None = None


def parse_herald(payload: bytes | bytearray | memoryview) -> Herald:
    """Accept a herald as netdumpd does: type HERALD and a length that matches.

    The path is kept only when 0 < length <= 1024 and the data ends in NUL;
    otherwise the herald is still valid and the default path applies.
    """
    header = MessageHeader.parse(payload)
    if header.type != _HERALD:
        raise WireError("herald.mh_type", header.type, "not a HERALD")
    present = len(payload) - _HDR
    if header.length != present:
        raise WireError("herald.mh_len", header.length, f"but {present} data bytes follow")
    path: str | None = None
    raw = bytes(payload[_HDR:])
    if 0 < len(raw) <= HERALD_PATH_MAX and raw[-1] == 0:
        path = raw[: raw.index(0)].decode("utf-8", "surrogateescape")
    return Herald(header.seqno, header.aux2, path)


class SessionState(Enum):
    OPEN = "open"
    FINISHING = "finishing"
    LINGER = "linger"
    DONE = "done"
    TIMED_OUT = "timed out"
    FAILED = "failed"


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
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
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
        self._events: list[ServerEvent] = []

    # -- input ---------------------------------------------------------------

    def receive_datagram(
        self, payload: bytes | bytearray | memoryview, now: float
    ) -> ServerEvent | None:
        """Take one UDP payload from the client; return what the shell must act on."""
        n = len(payload)
        if n < _HDR:
            self._drop("runt", n)
            return None
        mtype, seqno, offset, length, _aux2 = HEADER.unpack_from(payload)
        if length != n - _HDR:
            self._drop("length mismatch", length)
            return None
        state = self.state
        if state is not SessionState.OPEN:
            if (
                state is SessionState.LINGER
                and mtype == _FINISHED
                and seqno == self._finished_seqno
            ):
                self._ack(seqno)
            else:
                self._drop(f"after {state.value}", mtype)
            return None
        if mtype == _DATA:  # batches take receive_datagrams' inlined path instead
            self._heard(now)
            self._ack(seqno)
            self.any_data = True
            self.stats.data_packets += 1
            self.stats.data_bytes += length
            self.ranges.add(offset, offset + length)
            return DataReceived(offset, payload[_HDR:])
        if mtype == _KDH:
            self._heard(now)
            self._ack(seqno)
            self.any_data = True
            return KdhReceived(bytes(payload[_HDR:]))
        if mtype == _KEY:
            self._heard(now)
            self._ack(seqno)
            return KeyReceived(bytes(payload[_HDR:]), offset)
        if mtype == _FINISHED:
            self._heard(now)
            self.state = SessionState.FINISHING
            self._finished_seqno = seqno
            return FinishRequested()
        self._drop("unexpected type", mtype)
        return None

    def receive_datagrams(
        self, datagrams: list[memoryview] | list[bytes], now: float
    ) -> list[ServerEvent]:
        """Take a batch of datagrams; contiguous DATA comes back as DataRunReceived runs.

        Behaves exactly like ``receive_datagram`` on each in turn, but a
        windowed client's 64 packets cost one event and one range update
        instead of 64. Events keep the order of the datagrams.
        """
        events: list[ServerEvent] = []
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
                        self._end_run(events, start, end, pieces)
                        pieces = []
                        start = end = offset
                    pieces.append(payload[_HDR:])
                    end += length
                    continue
            self._end_run(events, start, end, pieces)
            pieces, start, end = [], -1, -1
            ev = self.receive_datagram(payload, now)
            if ev is not None:
                events.append(ev)
        self._end_run(events, start, end, pieces)
        if count:
            stats = self.stats
            stats.packets += count
            stats.data_packets += count
            stats.data_bytes += total
            self.any_data = True
            self.last_heard = now
        return events

    def _end_run(
        self,
        events: list[ServerEvent],
        start: int,
        end: int,
        pieces: list[bytes | bytearray | memoryview],
    ) -> None:
        if pieces:
            events.append(DataRunReceived(start, tuple(pieces), end - start))
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
        self._ack(self._finished_seqno)
        self.state = SessionState.LINGER
        self._closed_at = now

    def fail(self) -> None:
        """Storage failed: ack nothing more, not even what is queued."""
        self._acks.clear()
        self.state = SessionState.FAILED

    def time_out(self, now: float) -> None:
        """End the session now (shutdown, or a new herald after data).

        An open dump ends as timed out; a finished one stops lingering.
        """
        if self.state in (SessionState.OPEN, SessionState.FINISHING):
            self.state = SessionState.TIMED_OUT
            self._acks.clear()
            self._events.append(SessionTimedOut(now - self.last_heard))
        elif self.state is SessionState.LINGER:
            self.state = SessionState.DONE
            self._events.append(SessionEnded())

    # -- output and timers ---------------------------------------------------

    def datagrams_to_send(self) -> list[bytes]:
        acks = self._acks
        if not acks:
            return acks
        self._acks = []
        self.stats.acks += len(acks)
        return acks

    def next_event(self) -> ServerEvent | None:
        return self._events.pop(0) if self._events else None

    def next_deadline(self) -> float | None:
        if self.state in (SessionState.OPEN, SessionState.FINISHING):
            return self.last_heard + self.config.timeout
        if self.state is SessionState.LINGER:
            return self._closed_at + self.config.linger
        return None

    def handle_timer(self, now: float) -> None:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return
        if self.state is SessionState.LINGER:
            self.state = SessionState.DONE
            self._events.append(SessionEnded())
        elif self.state is SessionState.OPEN:
            self.time_out(now)

    def missing(self, length: int) -> list[tuple[int, int]]:
        """Holes in ``[0, length)``: what the dump lacks if the KDH says ``length``."""
        return self.ranges.missing(0, length)

    # -- internals -----------------------------------------------------------

    def _heard(self, now: float) -> None:
        self.stats.packets += 1
        self.last_heard = now

    def _ack(self, seqno: int) -> None:
        self._acks.append(_pack_ack(seqno))

    def _drop(self, reason: str, value: int) -> None:
        self.stats.drop(reason)
        log.debug("%s: dropped datagram (%s: %d)", self.label or "session", reason, value)
