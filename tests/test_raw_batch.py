"""The raw path's batched hot path against its frame-by-frame path and independent oracles.

Framing a window at once (``output_many``) must give the bytes ``output``
gives, checked by scapy too; the one-unpack input fast path must deliver and
count exactly as the full check sequence; sendmmsg/recvmmsg on a real veth
pair must carry the very frames, and the kernel's per-frame status, that
``send`` and ``recvmsg`` carry.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Iterator
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from debugnet.devices import framebatch, packet
from debugnet.errors import NetworkDown, NoBuffers
from debugnet.ifnet import DebugnetMethods, IfFlags, Ifnet, IfOps, IfTable
from debugnet.ifnet.rxinfo import RxFlags, RxInfo
from debugnet.inet.output import ether_output_many
from debugnet.inet.stack import InetStack
from debugnet.wire.checksum import internet_checksum
from tests.test_devices_support import ip, require_root, unique_tag
from tests.test_inet_stack import resolved, udp_frame

datagrams = st.lists(
    st.tuples(st.binary(min_size=0, max_size=1472), st.integers(1, 65535)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(datagrams)
def test_output_many_gives_the_frames_output_gives(out: list[tuple[bytes, int]]) -> None:
    stack = resolved()
    assert stack.output_many(out) == [stack.output(payload, port) for payload, port in out]


@settings(max_examples=30, deadline=None)
@given(datagrams)
def test_output_many_frames_check_out_in_scapy(out: list[tuple[bytes, int]]) -> None:
    for frame, (payload, port) in zip(resolved().output_many(out), out, strict=True):
        pkt = Ether(frame)
        ours_ip, ours_udp = pkt[IP].chksum, pkt[UDP].chksum
        del pkt[IP].chksum, pkt[UDP].chksum
        again = Ether(bytes(pkt))
        assert (ours_ip, ours_udp) == (again[IP].chksum, again[UDP].chksum)
        assert pkt[IP].id == 0 and pkt[IP].flags == "DF" and pkt[IP].ttl == 255
        assert bytes(pkt[UDP].payload)[: len(payload)] == payload and pkt[UDP].dport == port


def test_output_many_refuses_the_whole_window_if_one_is_too_big() -> None:
    stack = resolved()
    with pytest.raises(NoBuffers):
        stack.output_many([(b"x", 1), (bytes(1473), 2)])


def _counters(stack: InetStack) -> dict[str, object]:
    return asdict(stack.stats)


_HEADER_BYTES = [0, 5, 12, 13, 14, 16, 17, 20, 21, 23, 24, 25, *range(26, 42)]
"""Each byte of the fields the input path judges: MAC, ethertype, IPv4 and UDP headers."""


def _fix_checksums(frame: bytearray) -> None:
    """Make both checksums right again after an edit (lengths as the frame claims them)."""
    frame[24:26] = b"\0\0"
    frame[24:26] = internet_checksum(bytes(frame[14:34])).to_bytes(2, "big")
    ulen = max(8, min(int.from_bytes(frame[38:40], "big"), len(frame) - 34))
    frame[40:42] = b"\0\0"
    pseudo = bytes(frame[26:34]) + b"\0\x11" + ulen.to_bytes(2, "big")
    frame[40:42] = internet_checksum(pseudo + bytes(frame[34 : 34 + ulen])).to_bytes(2, "big")


@settings(max_examples=600, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 59) | st.sampled_from(_HEADER_BYTES),
            st.sampled_from([1 << bit for bit in range(8)]) | st.integers(1, 255),
        ),
        max_size=3,
    ),
    st.sampled_from([0, 1, 2, 3, 4, 8, 12]),
    st.booleans(),
    st.integers(42, 70),
)
def test_the_fast_path_delivers_and_counts_as_the_full_checks(
    edits: list[tuple[int, int]], flags: int, fix: bool, size: int
) -> None:
    """Any frame a few flipped bits from a good ack: the same result and counters as
    ``_checked`` alone (checksums made right again, or not)."""
    frame = bytearray(bytes(udp_frame()).ljust(70, b"\0"))
    for at, flip in edits:
        frame[at] ^= flip
    del frame[size:]
    if fix:
        _fix_checksums(frame)
    data = bytes(frame)
    rx = RxInfo(flags, 5 if flags & RxFlags.VLAN else 0)
    fast, full = resolved(), resolved()
    assert fast.input(data, rx) == full._checked(data, rx.flags, rx)
    assert _counters(fast) == _counters(full)


def test_every_single_bit_flip_meets_the_same_fate_on_both_paths() -> None:
    """Exhaustive over the first 60 bytes of a padded ack, trusted or not, checksums
    repaired or not: ``input`` and ``_checked`` agree frame by frame and in the counters."""
    fast, full = resolved(), resolved()
    good = bytes(udp_frame()).ljust(60, b"\0")
    cases = 0
    for at in range(60):
        for bit in range(8):
            for fix in (False, True):
                frame = bytearray(good)
                frame[at] ^= 1 << bit
                if fix:
                    _fix_checksums(frame)
                for flags in (0, int(RxFlags.CSUM_NOT_READY)):
                    rx = RxInfo(flags)
                    assert fast.input(bytes(frame), rx) == full._checked(bytes(frame), flags, rx)
                    cases += 1
    assert _counters(fast) == _counters(full)
    assert fast.stats.delivered and sum(fast.stats.drops.values()) and cases == 1920


# -- ether_output_many over a driver with and without transmit_many ------------------------


class _Batches:
    def __init__(self, room: int) -> None:
        self.room = room
        self.calls: list[list[bytes]] = []
        self.single: list[bytes] = []

    def many(self, ifp: Ifnet, frames: list[bytes]) -> int:
        self.calls.append(list(frames))
        return min(self.room, len(frames))

    def one(self, ifp: Ifnet, frame: bytes) -> None:
        self.single.append(frame)


def _ifnet(driver: _Batches) -> Ifnet:
    methods = DebugnetMethods(
        init=lambda ifp: (1, 64, 2048),
        event=lambda ifp, ev: None,
        transmit=driver.one,
        poll=lambda ifp, n: 0,
        transmit_many=driver.many,
    )
    ifp = Ifnet("dnb0", IfOps(output=driver.one, debugnet=methods), lladdr=bytes(6))
    IfTable().attach(ifp)
    ifp.flags = ifp.flags | IfFlags.UP | IfFlags.RUNNING
    return ifp


def test_a_batch_goes_to_transmit_many_and_a_full_queue_loses_the_tail() -> None:
    driver = _Batches(room=3)
    ifp = _ifnet(driver)
    frames = [bytes([i]) * (60 + i) for i in range(5)]
    assert ether_output_many(ifp, frames) == 2
    assert driver.calls == [frames] and not driver.single
    assert ifp.stats.opackets == 3 and ifp.stats.obytes == 60 + 61 + 62
    assert ifp.stats.oqdrops == 2


def test_with_a_tap_every_frame_goes_one_by_one_past_the_tap() -> None:
    driver = _Batches(room=10)
    ifp = _ifnet(driver)
    seen: list[bytes] = []
    ifp.taps.append(lambda direction, frame: seen.append(frame))
    frames = [b"a" * 60, b"b" * 60]
    assert ether_output_many(ifp, frames) == 0
    assert seen == frames == driver.single and not driver.calls


def test_batch_output_checks_the_interface_and_the_mtu_first() -> None:
    driver = _Batches(room=10)
    ifp = _ifnet(driver)
    with pytest.raises(NoBuffers):
        ether_output_many(ifp, [b"a" * 60, b"b" * 1515])
    ifp.flags = ifp.flags & ~IfFlags.RUNNING
    with pytest.raises(NetworkDown):
        ether_output_many(ifp, [b"a" * 60, b"b" * 60])
    assert not driver.calls


def test_auxdata_among_other_control_messages_is_found() -> None:
    """``_walk``: our message after a foreign one; a truncated one ends the walk."""
    head = struct.Struct("NiI")
    aux = struct.pack("=IIIHHHH", 1 << 3, 60, 60, 0, 0, 7, 0x8100)
    foreign = head.pack(head.size + 4, 1, 99) + b"\0" * 8  # 4 data bytes, 4 padding
    ours = head.pack(head.size + len(aux), packet.SOL_PACKET, packet.PACKET_AUXDATA) + aux
    buf = memoryview(foreign + ours + b"\0" * 4)
    walk = framebatch.FrameReceiver._walk
    probe = type("P", (), {"_level": packet.SOL_PACKET, "_kind": packet.PACKET_AUXDATA})()
    assert walk(probe, buf, 0, len(buf)) == (1 << 3, 7)  # type: ignore[arg-type]
    assert walk(probe, buf, 0, len(foreign) + 8) == (-1, 0)  # type: ignore[arg-type]


def test_status_info_agrees_with_rx_info() -> None:
    for status in (0, 1 << 3, 1 << 7, 1 << 4, (1 << 7) | (1 << 4)):
        for tci in (0, 42):
            aux = struct.pack("=IIIHHHH", status, 60, 60, 0, 0, tci, 0)
            ancdata = [(packet.SOL_PACKET, packet.PACKET_AUXDATA, aux)]
            for fcs in (False, True):
                assert packet.status_info(status, tci, fcs) == packet.rx_info(ancdata, fcs)
    assert packet.status_info(-1, 0, False) == packet.rx_info([], False)


# -- sendmmsg and recvmmsg on a real veth pair ----------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[Ifnet, Ifnet]]:
    """Two packet interfaces on the two ends of a fresh veth pair (no addresses, no IPv6)."""
    require_root()
    if not framebatch.available():
        pytest.skip("no sendmmsg/recvmmsg here")
    tag = unique_tag()
    a, b = f"dnma{tag}", f"dnmb{tag}"
    ip("link", "add", a, "type", "veth", "peer", "name", b)
    ifps: list[Ifnet] = []
    try:
        for name in (a, b):
            with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
                f.write("1")
            ip("link", "set", name, "up")
        table = IfTable()
        for name in (a, b):
            ifps.append(packet.attach_packet(table, name))
        yield ifps[0], ifps[1]
    finally:
        for ifp in ifps:
            packet.close(ifp)
        ip("link", "del", a, check=False)


def _collect(ifp: Ifnet, want: int, dst: bytes) -> list[tuple[bytes, RxInfo]]:
    """Poll until ``want`` frames to ``dst`` arrived (30 s bound: a failure, not a hang)."""
    got: list[tuple[bytes, RxInfo]] = []
    ifp.input_hook = lambda _ifp, frame, rx: got.append((frame, rx)) if frame[:6] == dst else None
    deadline = time.monotonic() + 30
    try:
        while len(got) < want and time.monotonic() < deadline:
            select.select([ifp.softc.fileno()], [], [], 0.2)
            packet.poll(ifp, 1000)
    finally:
        ifp.input_hook = None
    return got


def _frames_for(dst: bytes, count: int) -> list[bytes]:
    stack = resolved()
    sizes = [0, 1, 17, 1471, 1472, 700, 4]
    out = [(bytes([i % 251]) * sizes[i % len(sizes)], 1000 + i) for i in range(count)]
    return [dst + frame[6:] for frame in stack.output_many(out)]


@pytest.mark.root
def test_sendmmsg_and_recvmmsg_carry_the_frames_send_and_recvmsg_carry(
    pair: tuple[Ifnet, Ifnet],
) -> None:
    a, b = pair
    dst = b.lladdr
    frames = _frames_for(dst, 150)  # more than one batch of 64 each way
    assert a.softc.sender is not None and b.softc.receiver is not None
    assert ether_output_many(a, frames) == 0
    batched = _collect(b, len(frames), dst)
    assert [f for f, _ in batched] == frames
    assert a.stats.opackets == len(frames)
    receiver, b.softc.receiver = b.softc.receiver, None  # recvmsg, frame by frame
    try:
        sender, a.softc.sender = a.softc.sender, None  # send, frame by frame
        assert ether_output_many(a, frames) == 0
        a.softc.sender = sender
        single = _collect(b, len(frames), dst)
    finally:
        b.softc.receiver = receiver
    assert single == batched


@pytest.mark.root
def test_frames_are_not_looped_back_to_the_sender(pair: tuple[Ifnet, Ifnet]) -> None:
    a, b = pair
    frames = _frames_for(b.lladdr, 10)
    assert ether_output_many(a, frames) == 0
    assert len(_collect(b, 10, b.lladdr)) == 10
    assert packet.poll(a, 1000) == 0  # our own frames: PACKET_IGNORE_OUTGOING or pkttype
