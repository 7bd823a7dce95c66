"""The proxy's core against a scripted kernel, on the wire, in virtual time."""

from __future__ import annotations

import ipaddress

import pytest

from debugnet.netgdb.proxy_core import ProxyConfig, ProxyCore, Verdict
from debugnet.netgdb.session import EndReason, KernelSession
from debugnet.transport.duplex_config import DuplexConfig
from debugnet.wire.constants import NETGDB_AUX2
from debugnet.wire.message import ACK, HEADER, MsgType

KERNEL = ("192.0.2.7", 20026)


def herald(seqno: int = 1, aux2: int = NETGDB_AUX2) -> bytes:
    return HEADER.pack(MsgType.HERALD, seqno, 0, 0, aux2)


def data(seqno: int, payload: bytes, offset: int = 0, aux2: int | None = None) -> bytes:
    size = len(payload) if aux2 is None else aux2
    return HEADER.pack(MsgType.DATA, seqno, offset, len(payload), size) + payload


def finished(seqno: int) -> bytes:
    return HEADER.pack(MsgType.FINISHED, seqno, 0, 0, 0)


def ack(seqno: int) -> bytes:
    return ACK.pack(seqno)


def acks(out: list[bytes]) -> list[int]:
    return [ACK.unpack(d)[0] for d in out if len(d) == 4]


def msgs(out: list[bytes]) -> list[tuple[int, int, int, int, int, bytes]]:
    return [(*HEADER.unpack_from(d), d[24:]) for d in out if len(d) != 4]


def open_session(
    seqno: int = 1, config: ProxyConfig | None = None
) -> tuple[ProxyCore, KernelSession]:
    core = ProxyCore(config)
    verdict, session = core.herald(herald(seqno), KERNEL, 0.0)
    assert verdict is Verdict.NEW and session is not None
    return core, session


def test_herald_acked_from_the_session_with_its_own_seqno() -> None:
    _core, s = open_session(seqno=41)
    assert s.datagrams_to_send(0.0) == [ack(41)]


def test_herald_retransmission_acked_again_until_data_came() -> None:
    core, s = open_session()
    s.datagrams_to_send(0.0)
    verdict, again = core.herald(herald(), KERNEL, 0.5)
    assert verdict is Verdict.AGAIN and again is s
    assert s.datagrams_to_send(0.5) == [ack(1)]
    s.receive_datagram(data(2, b"$T05#b9"), 0.6)
    verdict, new = core.herald(herald(), KERNEL, 0.7)
    assert verdict is Verdict.NEW and new is not s
    assert s.end_reason is EndReason.KERNEL_RESTARTED and s.closed
    assert s.datagrams_to_send(0.7) == []  # no FINISHED into the kernel's new session


@pytest.mark.parametrize(
    ("payload", "src", "verdict"),
    [
        (herald(aux2=0), KERNEL, Verdict.WRONG_AUX2),  # a netdump client
        (herald(aux2=NETGDB_AUX2 + 1), KERNEL, Verdict.WRONG_AUX2),
        (herald(), ("198.51.100.9", 20026), Verdict.NOT_ALLOWED),
        (data(1, b"x"), KERNEL, Verdict.NOT_HERALD),
        (herald() + b"junk", KERNEL, Verdict.NOT_HERALD),
        (b"\x00\x00\x00\x01", KERNEL, Verdict.NOT_HERALD),
    ],
)
def test_refused_heralds_get_no_session_and_no_answer(
    payload: bytes, src: tuple[str, int], verdict: Verdict, caplog: pytest.LogCaptureFixture
) -> None:
    core = ProxyCore(ProxyConfig(allow=(ipaddress.IPv4Network("192.0.2.0/24"),)))
    got, session = core.herald(payload, src, 0.0)
    assert got is verdict and session is None
    assert core.sessions == {} and core.counters[verdict.value] == 1
    assert f"refused herald from {src[0]}" in caplog.text


def test_initial_stop_reply_waits_for_gdb() -> None:
    _core, s = open_session()
    s.receive_datagram(data(2, b"$T05thread:01;#07"), 0.1)
    assert s.datagrams_to_send(0.1) == [ack(1), ack(2)]
    assert s.take_gdb_output() == b""
    s.gdb_connected("127.0.0.1:5555")
    assert s.take_gdb_output() == b"$T05thread:01;#07"


def test_kernel_duplicates_and_reordering_reach_gdb_once_in_order() -> None:
    _core, s = open_session()
    s.gdb_connected("gdb")
    s.datagrams_to_send(0.0)
    reply = b"$" + b"ab" * 700 + b"#00"  # one GDB packet in three messages at MTU 576
    pieces = [(reply[i : i + 524], i) for i in range(0, len(reply), 524)]
    order = [2, 0, 0, 1, 2, 1]
    for i in order:
        s.receive_datagram(data(2 + i, pieces[i][0], pieces[i][1], len(reply)), 0.1)
    assert s.take_gdb_output() == reply
    assert acks(s.datagrams_to_send(0.1)) == [2 + i for i in order]
    assert s.duplex.stats.duplicates == 3 and s.duplex.stats.out_of_order == 1


def test_gdb_packets_become_messages_sized_to_the_mtu_with_aux2_and_offsets() -> None:
    cfg = ProxyConfig(duplex=DuplexConfig(mtu=576))
    _core, s = open_session(config=cfg)
    s.datagrams_to_send(0.0)
    big = b"$X1000,600:" + b"\x11" * 0x600 + b"#aa"
    s.gdb_data(b"+" + big[:100])  # a packet cut by TCP: waits for its end
    s.gdb_data(big[100:] + b"\x03")
    sent = []
    now = 0.0
    for _ in range(10):
        out = msgs(s.datagrams_to_send(now))
        assert len(out) <= 1  # one message in flight
        if not out:
            break
        sent += out
        now += 0.001
        s.receive_datagram(ack(out[0][1]), now)
    assert [m[1] for m in sent] == list(range(1, len(sent) + 1))
    assert sent[0][2:] == (0, 1, 1, b"+")
    body = sent[1:-1]
    assert [m[2] for m in body] == [0, 524, 1048, 1572][: len(body)]
    assert all(m[4] == len(big) and m[3] <= 524 for m in body)
    assert b"".join(m[5] for m in body) == big
    assert sent[-1][2:] == (0, 1, 1, b"\x03")


def test_no_resend_before_the_ack_is_overdue_and_then_once() -> None:
    _core, s = open_session()
    s.datagrams_to_send(0.0)
    s.gdb_data(b"$m0,10#2d")
    assert len(msgs(s.datagrams_to_send(0.0))) == 1
    deadline = s.next_deadline()
    assert deadline is not None and deadline >= 1.0
    s.handle_timer(deadline - 0.01)
    assert s.datagrams_to_send(deadline - 0.01) == []
    s.handle_timer(deadline)
    assert len(msgs(s.datagrams_to_send(deadline))) == 1
    assert s.duplex.stats.retransmissions == 1


def test_kernel_withholding_acks_for_30_s_then_resuming() -> None:
    """A full receive buffer: the kernel refuses (and does not ack) until it drains."""
    _core, s = open_session()
    s.gdb_connected("gdb")
    s.datagrams_to_send(0.0)
    s.gdb_data(b"$M1000,2:abcd#f3$m1000,2#8e")
    kernel_stream = b""
    now = 0.0
    resumed = 30.0
    while now < 60.0:
        s.handle_timer(now)
        for _type, seqno, *_rest, payload in msgs(s.datagrams_to_send(now)):
            if now >= resumed:  # room again: accept and ack
                kernel_stream += payload
                s.receive_datagram(ack(seqno), now)
        if s.duplex.idle:
            break
        deadline = s.next_deadline()
        if deadline is None:  # acked: the next message goes out at once
            continue
        now = max(deadline, now)
    assert kernel_stream == b"$M1000,2:abcd#f3$m1000,2#8e"  # each once, in order
    assert s.end_reason is None
    assert s.duplex.stats.retransmissions < 15


def test_kernel_finished_ends_the_session_and_closes_gdb() -> None:
    _core, s = open_session()
    s.gdb_connected("gdb")
    s.receive_datagram(finished(3), 0.1)  # ahead of its data: waits its turn
    assert s.end_reason is None
    s.receive_datagram(data(2, b"$OK#9a"), 0.2)
    assert s.end_reason is EndReason.KERNEL_FINISHED
    assert acks(s.datagrams_to_send(0.2)) == [1, 3, 2]
    assert not s.gdb_should_close  # gdb gets the last bytes first
    assert s.take_gdb_output() == b"$OK#9a"
    assert s.gdb_should_close and not s.closed
    s.handle_timer(0.2 + s.duplex.config.linger)
    assert s.closed
    assert "ended: kernel sent FINISHED" in s.summary(10.0)


def test_gdb_disconnect_sends_our_finished_with_the_next_seqno_unacked() -> None:
    _core, s = open_session()
    s.gdb_connected("gdb")
    s.datagrams_to_send(0.0)
    s.gdb_data(b"$D#44")
    (m,) = msgs(s.datagrams_to_send(0.0))
    s.receive_datagram(ack(m[1]), 0.01)
    s.gdb_closed(0.02)
    out = []
    now = 0.02
    while not s.closed:
        out += msgs(s.datagrams_to_send(now))
        deadline = s.next_deadline()
        now = deadline if deadline is not None else now
    assert [(t, q) for t, q, *_ in out] == [(MsgType.FINISHED, m[1] + 1)] * 3
    assert s.end_reason is EndReason.GDB_DISCONNECTED


def test_two_concurrent_kernels_are_independent() -> None:
    core = ProxyCore()
    other = ("192.0.2.8", 20026)
    _v, a = core.herald(herald(1), KERNEL, 0.0)
    _v, b = core.herald(herald(9), other, 0.0)
    assert a is not None and b is not None and a is not b
    assert set(core.sessions) == {KERNEL, other}
    assert a.datagrams_to_send(0.0) == [ack(1)] and b.datagrams_to_send(0.0) == [ack(9)]
    a.gdb_connected("gdb-a")
    b.gdb_connected("gdb-b")
    a.receive_datagram(data(2, b"$Ta#00"), 0.1)
    b.receive_datagram(data(10, b"$Tb#00"), 0.1)
    b.receive_datagram(data(2, b"$Tx#00"), 0.1)  # a's seqno at b: b has it as old
    assert a.take_gdb_output() == b"$Ta#00" and b.take_gdb_output() == b"$Tb#00"
    a.gdb_data(b"$g#67")
    b.gdb_data(b"$?#3f")
    assert msgs(a.datagrams_to_send(0.1))[0][5] == b"$g#67"
    assert msgs(b.datagrams_to_send(0.1))[0][5] == b"$?#3f"
    a.gdb_closed(0.2)
    assert b.end_reason is None
    core.remove(a)
    assert set(core.sessions) == {other}


def test_idle_gdb_is_never_timed_out_by_default_and_timeout_bounds_kernel_silence() -> None:
    _core, s = open_session()
    s.datagrams_to_send(0.0)
    assert s.next_deadline() is None
    s.handle_timer(3600.0)
    assert s.end_reason is None
    _core, s = open_session(config=ProxyConfig(duplex=DuplexConfig(timeout=30.0)))
    s.receive_datagram(data(2, b"$T05#b9"), 10.0)
    assert s.next_deadline() == 40.0
    s.handle_timer(40.0)
    assert s.end_reason is EndReason.KERNEL_SILENT and s.closed


def test_malformed_kernel_datagrams_are_counted_not_delivered() -> None:
    _core, s = open_session()
    s.gdb_connected("gdb")
    for bad in (b"", b"\x01", data(2, b"abc")[:-1], data(2, b"ab") + b"c"):
        s.receive_datagram(bad, 0.1)
    assert s.take_gdb_output() == b""
    assert sum(s.duplex.stats.dropped.values()) == 4


def test_a_kernel_packet_reaches_gdb_whole_and_a_lying_aux2_cannot_stall_it() -> None:
    _core, s = open_session()
    s.gdb_connected("gdb")
    s.receive_datagram(data(2, b"$abc", 0, 8), 0.1)
    assert s.take_gdb_output() == b""  # half a packet: held for its end
    s.receive_datagram(data(3, b"d#00", 4, 8), 0.1)
    assert s.take_gdb_output() == b"$abcd#00"
    s.receive_datagram(data(4, b"$T05#b9", 0, 100), 0.2)  # aux2 claims more than comes
    assert s.take_gdb_output() == b""
    deadline = s.next_deadline()
    assert deadline is not None and deadline <= 0.3
    s.handle_timer(deadline)
    assert s.take_gdb_output() == b"$T05#b9"
