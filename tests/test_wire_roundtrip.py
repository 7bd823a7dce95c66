"""Round trips, arbitrary input and truncation for every wire format (hypothesis)."""

import re
from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.errors import WireError
from debugnet.wire.arp import ArpPacket
from debugnet.wire.checksum import combine, internet_checksum, is_valid, ones_sum, residue
from debugnet.wire.ethernet import VLAN_ETHERTYPES, EthernetFrame, mac_from_str, mac_to_str
from debugnet.wire.frame import DebugnetFrame, FrameTemplate, parse_frame
from debugnet.wire.ipv4 import Ipv4Flag, Ipv4Packet
from debugnet.wire.message import Ack, Message
from debugnet.wire.udp import UdpDatagram

macs = st.binary(min_size=6, max_size=6)
addrs = st.integers(0, 2**32 - 1).map(IPv4Address)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
ethertypes = u16.filter(lambda t: t not in VLAN_ETHERTYPES)
unfragmented = st.sampled_from([0, Ipv4Flag.DF, Ipv4Flag.RESERVED, Ipv4Flag.DF | 4])
payloads = st.binary(max_size=300)

ethernet_frames = st.builds(EthernetFrame, macs, macs, ethertypes, payloads)
arp_packets = st.builds(ArpPacket, u16, macs, addrs, macs, addrs)
ipv4_packets = st.builds(
    Ipv4Packet, addrs, addrs, u8, payloads, u8, u8, u16, unfragmented, st.just(0)
)
dports = st.integers(1, 0xFFFF)  # UDP destination port 0 is rejected (test_wire_rejects)
udp_datagrams = st.builds(UdpDatagram, u16, dports, payloads)
templates = st.builds(FrameTemplate, macs, macs, addrs, addrs, u16, dports)


def reference_checksum(data: bytes) -> int:
    """RFC 1071 word by word, the slow way, as an oracle."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def parses_or_wire_error(parse: Callable[[bytes], object], data: bytes) -> None:
    try:
        parse(data)
    except WireError:
        pass


def all_truncations_fail(parse: Callable[[bytes], object], data: bytes, upto: int) -> None:
    for size in range(upto):
        try:
            parse(data[:size])
        except WireError:
            continue
        raise AssertionError(f"{size} of {len(data)} bytes parsed")


# Checksum


@given(st.binary(max_size=5000) | st.binary(min_size=4000, max_size=70000))
def test_checksum_matches_reference(data: bytes) -> None:
    expected = reference_checksum(data)
    assert internet_checksum(data) == expected
    assert internet_checksum(bytearray(data)) == expected
    assert internet_checksum(memoryview(data)) == expected
    assert residue(data) == (0xFFFF - expected) % 0xFFFF


@given(st.binary(max_size=3000), st.data())
def test_partial_sums_combine(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data)))
    head, tail = ones_sum(data[:cut]), ones_sum(data[cut:], odd_offset=bool(cut % 2))
    assert combine(head, tail) == ones_sum(data)
    assert residue(data, cut) == ones_sum(data[cut:]) % 0xFFFF


@given(st.binary(max_size=200).filter(lambda d: len(d) % 2 == 0 and any(d)))
def test_appended_checksum_validates(data: bytes) -> None:
    assert is_valid(data + internet_checksum(data).to_bytes(2, "big"))


# Round trips


@given(macs)
def test_mac_text_round_trip(mac: bytes) -> None:
    assert mac_from_str(mac_to_str(mac)) == mac
    assert mac_from_str(mac_to_str(mac).upper().replace(":", "-")) == mac


@given(ethernet_frames)
def test_ethernet_round_trip(frame: EthernetFrame) -> None:
    assert EthernetFrame.parse(frame.emit(pad=False)) == frame
    with_fcs = frame.emit(pad=False, with_fcs=True)
    assert EthernetFrame.parse(with_fcs, has_fcs=True, check_fcs=True) == frame
    padded = EthernetFrame.parse(frame.emit())
    assert padded.payload[: len(frame.payload)] == frame.payload
    assert not any(padded.payload[len(frame.payload) :])
    assert len(frame.emit()) >= 60


@given(arp_packets)
def test_arp_round_trip(packet: ArpPacket) -> None:
    assert ArpPacket.parse(packet.emit()) == packet
    assert ArpPacket.parse(packet.emit() + bytes(18)) == packet  # Ethernet padding


@given(ipv4_packets)
def test_ipv4_round_trip(packet: Ipv4Packet) -> None:
    assert Ipv4Packet.parse(packet.emit()) == packet
    assert Ipv4Packet.parse(packet.emit() + b"\x00pad") == packet


@given(udp_datagrams, addrs, addrs)
def test_udp_round_trip(datagram: UdpDatagram, src: IPv4Address, dst: IPv4Address) -> None:
    data = datagram.emit(src, dst)
    assert data[6:8] != b"\x00\x00"  # always checksummed
    assert UdpDatagram.parse(data, src, dst) == datagram
    assert UdpDatagram.parse(data + b"\x00", src, dst) == datagram


@given(templates, u32, u32, u64, u32, payloads)
def test_message_frame_round_trip(
    template: FrameTemplate, kind: int, seqno: int, offset: int, aux2: int, data: bytes
) -> None:
    frame = template.message(kind, seqno, data, offset, aux2)
    parsed = parse_frame(frame)
    assert parsed == DebugnetFrame(
        template.dst_mac,
        template.src_mac,
        template.src_ip,
        template.dst_ip,
        template.sport,
        template.dport,
        Message.build(kind, seqno, data, offset, aux2),
    )
    assert parsed.reply_template() == template.reversed()
    # The fast path and the layer-by-layer parsers agree.
    ip = Ipv4Packet.parse(EthernetFrame.parse(frame).payload)
    udp = UdpDatagram.parse(ip.payload, ip.src, ip.dst)
    assert Message.parse(udp.payload) == parsed.body


@given(templates, u32)
def test_ack_frame_round_trip(template: FrameTemplate, seqno: int) -> None:
    frame = template.ack(seqno)
    assert len(frame) == 60
    assert parse_frame(frame).body == Ack(seqno)


# Arbitrary bytes never raise anything but WireError, and valid bytes give their value.

PARSERS: list[Callable[[bytes], object]] = [
    EthernetFrame.parse,
    lambda d: EthernetFrame.parse(d, has_fcs=True, check_fcs=True),
    ArpPacket.parse,
    Ipv4Packet.parse,
    lambda d: Ipv4Packet.parse(d, verify_checksum=False),
    lambda d: UdpDatagram.parse(d, IPv4Address(1), IPv4Address(2)),
    parse_frame,
    lambda d: parse_frame(d, verify=False),
    lambda d: parse_frame(d, has_fcs=True, check_fcs=True),
]
FRAME_PARSERS: list[Callable[[bytes], DebugnetFrame]] = [
    parse_frame,
    lambda d: parse_frame(d, verify=False),
]


def expected_frame(template: FrameTemplate, message: Message) -> DebugnetFrame:
    """What a frame built from ``template`` carrying ``message`` must parse to."""
    t = template
    return DebugnetFrame(t.dst_mac, t.src_mac, t.src_ip, t.dst_ip, t.sport, t.dport, message)


@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    for parse in PARSERS:
        parses_or_wire_error(parse, data)


@given(templates, payloads, st.lists(st.tuples(st.integers(0, 400), u8), max_size=4))
def test_corrupted_frames(
    template: FrameTemplate, data: bytes, flips: list[tuple[int, int]]
) -> None:
    """Start from a valid frame so corruption reaches the deeper layers.

    Whatever the corruption, only WireError comes out; and where the outcome
    is known it is checked: an untouched frame gives its message, changed MAC
    addresses change nothing else, and one changed byte in the IPv4 header is
    always caught by its checksum (a one-byte change moves a 16-bit word by
    1..255 times 1 or 256, never by a multiple of 0xFFFF).
    """
    original = template.message(3, 1, data)
    frame = bytearray(original)
    for index, value in flips:
        frame[index % len(frame)] = value
    for parse in PARSERS:
        parses_or_wire_error(parse, bytes(frame))
        parses_or_wire_error(parse, bytes(frame[14:]))
        parses_or_wire_error(parse, bytes(frame[34:]))
    changed = [i for i in range(len(frame)) if frame[i] != original[i]]
    want = expected_frame(template, Message.build(3, 1, data))
    if all(i < 12 for i in changed):
        w = want
        moved = DebugnetFrame(
            bytes(frame[:6]), bytes(frame[6:12]), w.src_ip, w.dst_ip, w.sport, w.dport, w.body
        )
        for parse in FRAME_PARSERS:
            assert parse(bytes(frame)) == moved
    elif len(changed) == 1 and 14 <= changed[0] < 34:
        with pytest.raises(WireError):
            parse_frame(bytes(frame))


@given(templates, u32, u32, u64, u32, payloads, st.booleans())
def test_valid_frames_parse_to_their_value(
    template: FrameTemplate, kind: int, seqno: int, offset: int, aux2: int, data: bytes, ack: bool
) -> None:
    """The other half of the fuzzers above: valid bytes are never refused."""
    if ack:
        frame, body = template.ack(seqno), Ack(seqno)
    else:
        frame = template.message(kind, seqno, data, offset, aux2)
        body = Message.build(kind, seqno, data, offset, aux2)
    for parse in FRAME_PARSERS:
        assert parse(frame) == expected_frame(template, body)
    ip = Ipv4Packet.parse(EthernetFrame.parse(frame).payload)
    assert (ip.src, ip.dst) == (template.src_ip, template.dst_ip)
    udp = UdpDatagram.parse(ip.payload, ip.src, ip.dst)
    assert (udp.sport, udp.dport) == (template.sport, template.dport)


MAC_TEXT = re.compile(r"[0-9A-Fa-f]{1,2}([:-][0-9A-Fa-f]{1,2}){5}")
mac_texts = st.text(max_size=30) | st.lists(  # valid ones and near misses (3-digit octets)
    st.from_regex(r"[0-9A-Fa-f]{1,3}", fullmatch=True), min_size=6, max_size=6
).flatmap(lambda parts: st.sampled_from([":", "-"]).map(lambda sep: sep.join(parts)))


@given(mac_texts)
def test_arbitrary_mac_text(text: str) -> None:
    """Six 1-2 digit hex octets split by ':' or '-' give their bytes; anything else is refused."""
    if MAC_TEXT.fullmatch(text):
        assert mac_from_str(text) == bytes(int(p, 16) for p in re.split("[:-]", text))
    else:
        with pytest.raises(WireError):
            mac_from_str(text)


# Truncation at every length


@given(ethernet_frames, arp_packets, ipv4_packets, udp_datagrams)
def test_truncations(
    frame: EthernetFrame, arp: ArpPacket, ip: Ipv4Packet, udp: UdpDatagram
) -> None:
    all_truncations_fail(EthernetFrame.parse, frame.emit(), 14)
    all_truncations_fail(ArpPacket.parse, arp.emit(), 28)
    data = ip.emit()
    all_truncations_fail(Ipv4Packet.parse, data, len(data))
    src, dst = IPv4Address(1), IPv4Address(2)
    data = udp.emit(src, dst)
    all_truncations_fail(lambda d: UdpDatagram.parse(d, src, dst), data, len(data))


@given(templates, payloads, u32)
def test_frame_truncations(template: FrameTemplate, data: bytes, seqno: int) -> None:
    frame = template.message(3, seqno, data)
    all_truncations_fail(parse_frame, frame, 66 + len(data))
    all_truncations_fail(parse_frame, template.ack(seqno), 46)  # then only padding is cut
