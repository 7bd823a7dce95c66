"""The server-side duplex session in virtual time: ordered delivery and one message in flight."""

from __future__ import annotations

import pytest

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
from debugnet.transport.duplex_session import DropReason, DuplexSession, DuplexState
from debugnet.wire.message import ACK, HEADER, MsgType


def msg(seqno: int, data: bytes = b"x", mtype: int = MsgType.DATA, aux2: int = 0) -> bytes:
    return HEADER.pack(mtype, seqno, 0, len(data), aux2) + data


def ack(seqno: int) -> bytes:
    return ACK.pack(seqno)


def events(s: DuplexSession) -> list[DuplexEvent]:
    out = []
    while (ev := s.next_event()) is not None:
        out.append(ev)
    return out


def stream(s: DuplexSession) -> bytes:
    return b"".join(ev.data for ev in events(s) if isinstance(ev, StreamData))


def acks_of(datagrams: list[bytes]) -> list[int]:
    return [ACK.unpack(d)[0] for d in datagrams if len(d) == 4]


def messages_of(datagrams: list[bytes]) -> list[tuple[int, int, int, int, int]]:
    return [HEADER.unpack_from(d) for d in datagrams if len(d) != 4]


def test_herald_acked_with_its_own_seqno() -> None:
    s = DuplexSession(7, 0.0)
    assert acks_of(s.datagrams_to_send(0.0)) == [7]
    assert s.receive_herald(7, 0.1)
    assert acks_of(s.datagrams_to_send(0.1)) == [7]


def test_delivery_in_order_once_with_every_message_acked() -> None:
    s = DuplexSession(1, 0.0)
    s.datagrams_to_send(0.0)
    for seqno, data in [(3, b"c"), (2, b"b"), (2, b"b"), (4, b"d"), (3, b"c"), (5, b"e")]:
        s.receive_datagram(msg(seqno, data), 0.1)
    assert stream(s) == b"bcde"
    assert acks_of(s.datagrams_to_send(0.1)) == [3, 2, 2, 4, 3, 5]
    assert s.stats.duplicates == 2
    s.receive_datagram(msg(2, b"b"), 0.2)  # long after delivery: acked again, not delivered
    assert stream(s) == b""
    assert acks_of(s.datagrams_to_send(0.2)) == [2]


def test_too_far_ahead_is_dropped_unacked() -> None:
    s = DuplexSession(1, 0.0, DuplexConfig(reorder_window=4))
    s.datagrams_to_send(0.0)
    s.receive_datagram(msg(7, b"z"), 0.1)
    assert s.datagrams_to_send(0.1) == []
    assert s.stats.dropped[DropReason.TOO_FAR] == 1


@pytest.mark.parametrize("raw", [b"", b"abc", b"12345", msg(2, b"abc")[:-1], msg(2) + b"y"])
def test_malformed_dropped_with_a_counter(raw: bytes) -> None:
    s = DuplexSession(1, 0.0)
    s.datagrams_to_send(0.0)
    s.receive_datagram(raw, 0.1)
    assert s.datagrams_to_send(0.1) == [] and events(s) == []
    assert sum(s.stats.dropped.values()) + s.stats.stale_acks == 1


def test_aux2_and_offset_passed_up() -> None:
    s = DuplexSession(1, 0.0)
    s.receive_datagram(HEADER.pack(MsgType.DATA, 2, 5, 2, 9) + b"hi", 0.0)
    assert events(s) == [StreamData(b"hi", 9, 5)]


def test_one_message_in_flight_and_no_resend_before_overdue() -> None:
    cfg = DuplexConfig(rto_initial=0.5, rto_min=0.25)
    s = DuplexSession(1, 0.0, cfg)
    s.datagrams_to_send(0.0)
    assert [s.send(b"a", aux2=1), s.send(b"b", aux2=1)] == [1, 2]
    first = messages_of(s.datagrams_to_send(0.0))
    assert [m[1] for m in first] == [1]
    assert s.next_deadline() == pytest.approx(0.5)
    s.handle_timer(0.49)
    assert s.datagrams_to_send(0.49) == []
    s.handle_timer(0.5)
    assert [m[1] for m in messages_of(s.datagrams_to_send(0.5))] == [1]
    assert s.stats.retransmissions == 1
    s.receive_datagram(ack(1), 0.6)
    assert [m[1] for m in messages_of(s.datagrams_to_send(0.6))] == [2]
    s.receive_datagram(ack(2), 0.61)
    assert s.idle


def test_rtt_samples_shorten_the_timeout_within_bounds() -> None:
    s = DuplexSession(1, 0.0, DuplexConfig(rto_min=0.25))
    now = 0.0
    for _ in range(10):
        s.send(b"x")
        s.datagrams_to_send(now)
        now += 0.001
        s.receive_datagram(ack(s._next_seqno - 1), now)
    assert s.rto == pytest.approx(0.25)


def test_oversized_send_refused() -> None:
    s = DuplexSession(1, 0.0, DuplexConfig(mtu=576))
    s.send(b"x" * 524)
    with pytest.raises(InvalidArgument):
        s.send(b"x" * 525)


def test_withheld_acks_for_30_seconds_are_backpressure() -> None:
    s = DuplexSession(1, 0.0)
    s.send(b"q")
    s.send(b"r")
    now = 0.0
    sends = 0
    while now < 30.0:
        s.handle_timer(now)
        sends += len(messages_of(s.datagrams_to_send(now)))
        dl = s.next_deadline()
        assert dl is not None
        now = max(dl, now)
    assert s.state is DuplexState.OPEN and events(s) == []
    assert sends < 30  # backed off to rto_max, not a resend storm
    s.receive_datagram(ack(1), now)
    assert [m[1] for m in messages_of(s.datagrams_to_send(now))] == [2]


def test_give_up_budget() -> None:
    s = DuplexSession(1, 0.0, DuplexConfig(send_budget=40.0))
    s.send(b"q")
    now = 0.0
    while s.state is DuplexState.OPEN:
        s.datagrams_to_send(now)
        dl = s.next_deadline()
        assert dl is not None
        now = max(dl, now)
        s.handle_timer(now)
    assert now == pytest.approx(40.0)
    evs = events(s)
    assert isinstance(evs[0], SendFailed) and isinstance(evs[1], SessionClosed)


def test_our_finished_sent_repeatedly_with_next_seqno_and_closes() -> None:
    s = DuplexSession(1, 0.0, DuplexConfig(finish_repeats=3, finish_interval=0.1))
    s.send(b"a")
    s.datagrams_to_send(0.0)
    s.receive_datagram(ack(1), 0.01)
    s.finish(0.02)
    with pytest.raises(LocalProtocolError):
        s.send(b"late")
    got = []
    now = 0.02
    while s.state is not DuplexState.CLOSED:
        got += messages_of(s.datagrams_to_send(now))
        dl = s.next_deadline()
        now = dl if dl is not None else now
    assert [(m[0], m[1]) for m in got] == [(MsgType.FINISHED, 2)] * 3
    assert events(s) == [SessionClosed()]


def test_peer_finished_after_its_data_acked_and_lingers() -> None:
    s = DuplexSession(1, 0.0, DuplexConfig(linger=2.0))
    s.datagrams_to_send(0.0)
    s.receive_datagram(msg(3, b"", MsgType.FINISHED), 0.1)
    assert events(s) == []  # waits for 2
    s.receive_datagram(msg(2, b"last"), 0.2)
    assert events(s) == [StreamData(b"last", 0, 0), PeerFinished()]
    s.receive_datagram(msg(3, b"", MsgType.FINISHED), 0.3)
    assert acks_of(s.datagrams_to_send(0.3)) == [3, 2, 3]
    s.handle_timer(2.2)
    assert s.state is DuplexState.CLOSED and events(s) == [SessionClosed()]


def test_silence_timeout_only_when_configured() -> None:
    s = DuplexSession(1, 0.0)
    assert s.next_deadline() is None
    s = DuplexSession(1, 0.0, DuplexConfig(timeout=5.0))
    s.receive_datagram(msg(2), 3.0)
    assert s.next_deadline() == 8.0
    s.handle_timer(8.0)
    assert events(s) == [StreamData(b"x", 0, 0), PeerSilent(5.0), SessionClosed()]
