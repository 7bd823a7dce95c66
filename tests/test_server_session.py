"""The server session in virtual time: no sockets, no clock."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from debugnet.transport.server_session import (
    TRANSITIONS,
    Herald,
    ServerSession,
    SessionConfig,
    SessionState,
    parse_herald,
)
from debugnet.wire.message import Ack, Message, MsgType


def msg(t: MsgType, seq: int, data: bytes = b"", off: int = 0) -> bytes:
    return Message.build(t, seq, data, offset=off).emit()


def drain(s: ServerSession) -> list[ServerEvent]:
    events = []
    while (ev := s.next_event()) is not None:
        events.append(ev)
    return events


def feed(s: ServerSession, data: bytes, now: float) -> ServerEvent | None:
    """One datagram in; the event it produced (at most one), drained from next_event."""
    s.receive_datagram(data, now)
    events = drain(s)
    assert len(events) <= 1
    return events[0] if events else None


def feed_batch(s: ServerSession, datagrams: list[bytes], now: float) -> list[ServerEvent]:
    s.receive_datagrams(datagrams, now)
    return drain(s)


def acks(s: ServerSession) -> list[int]:
    return [Ack.parse(d).seqno for d in s.datagrams_to_send(0.0)]


def test_herald_path_rules() -> None:
    assert parse_herald(msg(MsgType.HERALD, 1, b"a/b\x00")).path == "a/b"
    assert parse_herald(msg(MsgType.HERALD, 1, b"a/b")).path is None  # not NUL-terminated
    assert parse_herald(msg(MsgType.HERALD, 1)).path is None
    assert parse_herald(msg(MsgType.HERALD, 1, b"x" * 1024 + b"\x00")).path is None  # > 1024
    assert parse_herald(msg(MsgType.HERALD, 1, b"x" * 1023 + b"\x00")).path == "x" * 1023
    with pytest.raises(WireError):
        parse_herald(msg(MsgType.DATA, 1))
    with pytest.raises(WireError):
        parse_herald(msg(MsgType.HERALD, 1, b"ab\x00")[:-1])


def test_full_dump_acks_and_events() -> None:
    s = ServerSession(Herald(1), 0.0)
    assert acks(s) == [1]
    ev = feed(s, msg(MsgType.EKCD_KEY, 2, b"key"), 0.1)
    assert ev == KeyReceived(b"key")
    ev = feed(s, msg(MsgType.KDH, 3, b"k" * 512), 0.2)
    assert ev == KdhReceived(b"k" * 512)
    ev = feed(s, msg(MsgType.DATA, 4, b"abc", off=10), 0.3)
    assert isinstance(ev, DataReceived) and ev.offset == 10 and bytes(ev.data) == b"abc"
    assert acks(s) == [2, 3, 4]
    assert feed(s, msg(MsgType.FINISHED, 5), 0.4) == FinishRequested()
    assert acks(s) == []  # not before the shell says the data is durable
    s.confirm_finished(0.5)
    assert acks(s) == [5]
    # a retransmitted FINISHED (our ack lost) is acked again while lingering
    assert feed(s, msg(MsgType.FINISHED, 5), 0.6) is None
    assert acks(s) == [5]
    assert s.next_deadline() == 0.5 + SessionConfig().linger
    s.handle_timer(100.0)
    assert s.next_event() == SessionEnded()
    assert s.state is SessionState.DONE


def test_herald_retransmission_before_and_after_data() -> None:
    s = ServerSession(Herald(1), 0.0)
    s.datagrams_to_send(0.0)
    feed(s, msg(MsgType.EKCD_KEY, 2, b"key"), 0.1)  # a key is not data
    assert s.receive_herald(Herald(1), 0.2) is True
    assert acks(s) == [2, 1]
    feed(s, msg(MsgType.DATA, 3, b"x"), 0.3)
    assert s.receive_herald(Herald(1), 0.4) is False


def test_bad_input_dropped_and_counted() -> None:
    s = ServerSession(Herald(1), 0.0)
    s.datagrams_to_send(0.0)
    assert feed(s, b"\x00" * 10, 1.0) is None
    assert feed(s, msg(MsgType.DATA, 2, b"abc")[:-1], 1.0) is None
    assert feed(s, msg(MsgType(1), 3), 1.0) is None  # herald on session port
    assert feed(s, Message.build(99, 4).emit(), 1.0) is None
    assert acks(s) == []
    assert s.stats.dropped == {"runt": 1, "length mismatch": 1, "unexpected type": 2}
    assert s.last_heard == 0.0  # garbage does not keep a session alive


def test_timeout_in_virtual_time() -> None:
    s = ServerSession(Herald(1), 0.0, SessionConfig(timeout=5.0))
    feed(s, msg(MsgType.DATA, 2, b"x"), 3.0)
    assert acks(s) == [1, 2]
    assert s.next_deadline() == 8.0
    s.handle_timer(7.9)
    assert s.next_event() is None
    s.handle_timer(8.0)
    assert s.next_event() == SessionTimedOut(5.0)
    assert s.state is SessionState.TIMED_OUT
    assert feed(s, msg(MsgType.DATA, 3, b"x"), 9.0) is None
    assert acks(s) == []


def test_fail_withholds_queued_acks() -> None:
    s = ServerSession(Herald(1), 0.0)
    feed(s, msg(MsgType.DATA, 2, b"x"), 0.1)
    s.fail()
    assert acks(s) == []
    assert feed(s, msg(MsgType.DATA, 3, b"x"), 0.2) is None
    with pytest.raises(LocalProtocolError):
        s.confirm_finished(0.3)


def test_holes_are_reported() -> None:
    s = ServerSession(Herald(1), 0.0)
    feed(s, msg(MsgType.DATA, 2, b"a" * 100, off=0), 0.1)
    feed(s, msg(MsgType.DATA, 3, b"a" * 100, off=200), 0.1)
    feed(s, msg(MsgType.DATA, 4, b"a" * 100, off=200), 0.1)  # duplicate
    assert s.missing(400) == [(100, 200), (300, 400)]
    assert s.missing(300) == [(100, 200)]


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 60)), max_size=40))
def test_rangeset_matches_a_bitmap(pieces: list[tuple[int, int]]) -> None:
    rs = RangeSet()
    bitmap = [False] * 600
    for start, n in pieces:
        rs.add(start, start + n)
        for i in range(start, start + n):
            bitmap[i] = True
    assert rs.covered() == sum(bitmap)
    holes = [i for start, end in rs.missing(0, 600) for i in range(start, end)]
    assert holes == [i for i, b in enumerate(bitmap) if not b]
    spans = list(rs)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


HEADER = struct.Struct("!IIQII")  # PROTOCOL.md: type, seqno, offset, length, aux2
headed = st.builds(
    lambda t, seq, off, data, skew: HEADER.pack(t, seq, off, max(0, len(data) + skew), 0) + data,
    st.integers(0, 7),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**40),
    st.binary(max_size=60),
    st.sampled_from([0, 0, 0, -1, 1]),  # mostly a length that matches
)


@given(st.binary(max_size=200) | headed)
def test_session_never_raises_on_garbage(data: bytes) -> None:
    """Garbage is dropped unacked; a well-formed DATA, KDH or key is acked with its seqno."""
    s = ServerSession(Herald(1), 0.0)
    assert acks(s) == [1]
    feed(s, data, 1.0)
    valid = len(data) >= 24 and HEADER.unpack_from(data)[3] == len(data) - 24
    mtype, seqno = HEADER.unpack_from(data)[:2] if len(data) >= 24 else (0, 0)
    if valid and mtype in (MsgType.DATA, MsgType.KDH, MsgType.EKCD_KEY):
        assert acks(s) == [seqno]
    else:
        assert acks(s) == []  # FINISHED waits for the shell's fsync; the rest is dropped


def _apply(events: list, image: bytearray) -> list[type]:
    kinds = []
    for ev in events:
        kinds.append(type(ev))
        if isinstance(ev, DataReceived):
            image[ev.offset : ev.offset + len(ev.data)] = bytes(ev.data)
        elif isinstance(ev, DataRunReceived):
            joined = b"".join(bytes(p) for p in ev.pieces)
            assert len(joined) == ev.length
            image[ev.offset : ev.offset + ev.length] = joined
    return kinds


datagram = st.one_of(
    st.builds(
        lambda seq, off, n: msg(MsgType.DATA, seq, bytes([seq % 251]) * n, off),
        st.integers(2, 50),
        st.sampled_from([0, 10, 20, 30, 40, 55, 70]),
        st.integers(0, 15),
    ),
    st.builds(lambda seq: msg(MsgType.KDH, seq, b"h" * 20), st.integers(2, 50)),
    st.builds(lambda seq: msg(MsgType.FINISHED, seq), st.integers(2, 50)),
    st.binary(max_size=30),
)


@given(st.lists(datagram, max_size=40), st.integers(1, 8))
def test_batches_behave_like_single_datagrams(datagrams: list[bytes], batch: int) -> None:
    one, many = ServerSession(Herald(1), 0.0), ServerSession(Herald(1), 0.0)
    image_one, image_many = bytearray(100), bytearray(100)
    for d in datagrams:
        ev = feed(one, d, 1.0)
        _apply([ev] if ev is not None else [], image_one)
    for i in range(0, len(datagrams), batch):
        _apply(feed_batch(many, datagrams[i : i + batch], 1.0), image_many)
    assert acks(one) == acks(many)
    assert image_one == image_many
    assert list(one.ranges) == list(many.ranges)
    assert one.state is many.state
    assert one.any_data == many.any_data
    assert (one.stats.data_bytes, one.stats.packets) == (many.stats.data_bytes, many.stats.packets)
    assert one.last_heard == many.last_heard


def test_a_batch_of_contiguous_data_is_one_run() -> None:
    s = ServerSession(Herald(1), 0.0)
    batch = [msg(MsgType.DATA, 2 + i, b"x" * 10, 10 * i) for i in range(64)]
    events = feed_batch(s, batch, 1.0)
    assert len(events) == 1
    ev = events[0]
    assert isinstance(ev, DataRunReceived) and (ev.offset, ev.length) == (0, 640)
    assert len(ev.pieces) == 64
    assert acks(s) == [1, *range(2, 66)]


def test_finishing_times_out_when_never_confirmed() -> None:
    s = ServerSession(Herald(1), 0.0, SessionConfig(timeout=5.0))
    assert feed(s, msg(MsgType.FINISHED, 2), 1.0) == FinishRequested()
    assert s.state is SessionState.FINISHING and s.next_deadline() == 6.0
    s.handle_timer(6.0)
    assert s.next_event() == SessionTimedOut(5.0)
    assert s.state is SessionState.TIMED_OUT and acks(s) == []  # not even the herald's


def test_state_changes_follow_the_transition_table() -> None:
    for (state, _trigger), target in TRANSITIONS.items():
        assert isinstance(state, SessionState) and isinstance(target, SessionState)
    s = ServerSession(Herald(1), 0.0)
    s.time_out(1.0)
    assert s.state is SessionState.TIMED_OUT
    with pytest.raises(LocalProtocolError):
        s.confirm_finished(2.0)
    s.fail()  # storage can fail in any state
    assert s.state is SessionState.FAILED
