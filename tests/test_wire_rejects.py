"""One test per refusal of PROTOCOL.md §4: each feeds a packet broken in exactly one way."""

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.errors import WireError
from debugnet.wire.arp import ArpPacket, ArpReject
from debugnet.wire.checksum import internet_checksum
from debugnet.wire.ethernet import EthernetFrame, EtherReject, fcs
from debugnet.wire.frame import FrameTemplate, parse_frame
from debugnet.wire.ipv4 import Ipv4Packet, Ipv4Reject
from debugnet.wire.message import Message, MsgType
from debugnet.wire.udp import UdpDatagram, UdpReject

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
A = IPv4Address("192.0.2.1")
B = IPv4Address("192.0.2.2")
ARP = ArpPacket.request(MAC_A, A, B).emit()
ETH_HEADER = MAC_B + MAC_A


def ip_header(
    vihl: int = 0x45, total: int = 28, frag: int = 0x4000, options: bytes = b"", good: bool = True
) -> bytes:
    """An IPv4 header with the given fields and a correct (or deliberately wrong) checksum."""
    header = struct.pack("!BBHHHBBHII", vihl, 0, total, 0, frag, 255, 17, 0, int(A), int(B))
    header += options
    cksum = internet_checksum(header) ^ (0 if good else 0x0101)
    return header[:10] + cksum.to_bytes(2, "big") + header[12:]


def expect(reason: object, parse: object, *args: object) -> WireError:
    with pytest.raises(WireError) as info:
        parse(*args)  # type: ignore[operator]
    assert info.value.reason == reason
    return info.value


# Ethernet


def test_ethernet_runt() -> None:
    err = expect(EtherReject.RUNT, EthernetFrame.parse, ETH_HEADER + b"\x08")
    assert err.field == "ethernet.length"


def test_ethernet_runt_once_fcs_is_stripped() -> None:
    frame = ETH_HEADER + b"\x08\x00"
    assert EthernetFrame.parse(frame).payload == b""
    expect(EtherReject.RUNT, EthernetFrame.parse, frame + b"\x00\x00\x00", True)


@pytest.mark.parametrize("tag", [0x8100, 0x88A8])
def test_ethernet_vlan(tag: int) -> None:
    frame = ETH_HEADER + tag.to_bytes(2, "big") + bytes.fromhex("0001 0800") + ARP
    err = expect(EtherReject.VLAN, EthernetFrame.parse, frame)
    assert err.value == tag


def test_ethernet_fcs_stripped_and_checked() -> None:
    frame = EthernetFrame(MAC_B, MAC_A, 0x0806, ARP).emit()
    good = frame + fcs(frame)
    assert EthernetFrame.parse(good, has_fcs=True, check_fcs=True).payload == frame[14:]
    assert EthernetFrame(MAC_B, MAC_A, 0x0806, ARP).emit(with_fcs=True) == good
    bad = good[:-1] + bytes([good[-1] ^ 1])
    assert EthernetFrame.parse(bad, has_fcs=True).payload == frame[14:]  # not asked to check
    expect(EtherReject.BAD_FCS, EthernetFrame.parse, bad, True, True)


# ARP


@pytest.mark.parametrize("size", [0, 7, 8, 27])
def test_arp_short(size: int) -> None:
    expect(ArpReject.SHORT, ArpPacket.parse, ARP[:size])


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (0, b"\x00\x06", ArpReject.HRD),  # IEEE 802 instead of Ethernet
        (2, b"\x86\xdd", ArpReject.PRO),
        (4, b"\x08", ArpReject.HLN),  # the seed would copy 8 bytes into a 6-byte MAC
        (5, b"\x10", ArpReject.PLN),
    ],
)
def test_arp_header_fields(offset: int, value: bytes, reason: ArpReject) -> None:
    packet = ARP[:offset] + value + ARP[offset + len(value) :]
    expect(reason, ArpPacket.parse, packet)


def test_arp_other_ops_are_kept_for_the_input_path() -> None:
    packet = ARP[:6] + b"\x00\x03" + ARP[8:]
    assert ArpPacket.parse(packet).op == 3


# IPv4


def test_ipv4_too_short() -> None:
    expect(Ipv4Reject.TOO_SHORT, Ipv4Packet.parse, ip_header()[:19])


def test_ipv4_bad_version() -> None:
    err = expect(Ipv4Reject.BAD_VERSION, Ipv4Packet.parse, ip_header(vihl=0x65) + bytes(8))
    assert (err.field, err.value) == ("ipv4.version", 6)


def test_ipv4_ihl_below_five() -> None:
    err = expect(Ipv4Reject.BAD_IHL, Ipv4Packet.parse, ip_header(vihl=0x44) + bytes(8))
    assert (err.field, err.value) == ("ipv4.ihl", 4)


def test_ipv4_options() -> None:
    packet = ip_header(vihl=0x46, total=32, options=b"\x01\x01\x01\x00") + bytes(8)
    err = expect(Ipv4Reject.OPTIONS, Ipv4Packet.parse, packet)
    assert (err.field, err.value) == ("ipv4.ihl", 6)


def test_ipv4_bad_checksum() -> None:
    err = expect(Ipv4Reject.BAD_CHECKSUM, Ipv4Packet.parse, ip_header(good=False) + bytes(8))
    assert err.field == "ipv4.checksum"
    assert Ipv4Packet.parse(ip_header(good=False) + bytes(8), verify_checksum=False).payload


def test_ipv4_total_length_below_header() -> None:
    expect(Ipv4Reject.LENGTH_SHORT, Ipv4Packet.parse, ip_header(total=19) + bytes(8))


def test_ipv4_total_length_beyond_frame() -> None:
    expect(Ipv4Reject.LENGTH_LONG, Ipv4Packet.parse, ip_header(total=29) + bytes(8))


@pytest.mark.parametrize("frag", [0x2000, 0x6000, 0x0001, 0x4001, 0x1FFF])
def test_ipv4_fragments(frag: int) -> None:
    err = expect(Ipv4Reject.FRAGMENT, Ipv4Packet.parse, ip_header(frag=frag) + bytes(8))
    assert err.value == frag


def test_ipv4_padding_is_trimmed_and_reserved_flag_allowed() -> None:
    packet = Ipv4Packet.parse(ip_header(frag=0x8000) + b"12345678" + bytes(10))
    assert packet.payload == b"12345678"


def test_ipv4_reasons_are_all_distinct() -> None:
    assert len({r.value for r in Ipv4Reject}) == len(Ipv4Reject) == 8


# UDP


def udp(length: int, payload: bytes = b"abcd") -> bytes:
    return struct.pack("!HHHH", 20023, 20024, length, 0) + payload


def test_udp_too_short() -> None:
    expect(UdpReject.TOO_SHORT, UdpDatagram.parse, udp(12)[:7], A, B)


def test_udp_length_below_header() -> None:
    err = expect(UdpReject.LENGTH_SHORT, UdpDatagram.parse, udp(7), A, B)
    assert (err.field, err.value) == ("udp.length", 7)


def test_udp_length_beyond_bytes_present() -> None:
    err = expect(UdpReject.LENGTH_LONG, UdpDatagram.parse, udp(13), A, B)
    assert (err.field, err.value) == ("udp.length", 13)


def test_udp_trimmed_to_its_length() -> None:
    assert UdpDatagram.parse(udp(10), A, B).payload == b"ab"


def test_udp_bad_checksum() -> None:
    good = UdpDatagram(20023, 20024, b"abcd").emit(A, B)
    bad = good[:8] + b"abce"
    expect(UdpReject.BAD_CHECKSUM, UdpDatagram.parse, bad, A, B)
    expect(UdpReject.BAD_CHECKSUM, UdpDatagram.parse, good, A, IPv4Address("192.0.2.3"))
    assert UdpDatagram.parse(bad, A, B, verify=False).payload == b"abce"


def test_udp_destination_port_zero() -> None:
    datagram = UdpDatagram(20024, 0, b"abcd").emit(A, B)
    err = expect(UdpReject.PORT_ZERO, UdpDatagram.parse, datagram, A, B)
    assert err.field == "udp.dport" and err.value == 0
    assert UdpDatagram.parse(UdpDatagram(0, 20023, b"abcd").emit(A, B), A, B).sport == 0


# Whole frames: the fast path gives the same reasons as the per-format parsers.

TEMPLATE = FrameTemplate(MAC_A, MAC_B, A, B, 20024, 20023)
FRAME = TEMPLATE.message(MsgType.DATA, 5, b"x" * 100, offset=4096)


def test_frame_reasons_match_formats() -> None:
    expect(EtherReject.RUNT, parse_frame, FRAME[:13])
    expect(EtherReject.VLAN, parse_frame, FRAME[:12] + b"\x81\x00" + FRAME[14:])
    expect(Ipv4Reject.TOO_SHORT, parse_frame, FRAME[:33])
    broken_ip = FRAME[:24] + bytes([FRAME[24] ^ 1]) + FRAME[25:]
    expect(Ipv4Reject.BAD_CHECKSUM, parse_frame, broken_ip)
    expect(Ipv4Reject.LENGTH_LONG, parse_frame, FRAME[:-1])
    broken_udp = FRAME[:-1] + bytes([FRAME[-1] ^ 1])
    expect(UdpReject.BAD_CHECKSUM, parse_frame, broken_udp)
    body = parse_frame(broken_udp, verify=False).body
    assert isinstance(body, Message)
    assert body.data[-1:] == b"y"


def test_frame_refuses_non_ipv4_and_non_udp() -> None:
    arp_frame = EthernetFrame(MAC_B, MAC_A, 0x0806, ARP).emit()
    err = expect("not IPv4", parse_frame, arp_frame)
    assert err.field == "ethernet.ethertype"
    tcp = Ipv4Packet(A, B, 6, bytes(20)).emit()
    err = expect("not UDP", parse_frame, EthernetFrame(MAC_B, MAC_A, 0x0800, tcp).emit())
    assert err.field == "ipv4.proto"


def test_frame_udp_length_cases() -> None:
    tiny = Ipv4Packet(A, B, 17, b"\x00" * 6).emit()
    expect(UdpReject.TOO_SHORT, parse_frame, EthernetFrame(MAC_B, MAC_A, 0x0800, tiny).emit())
    long = Ipv4Packet(A, B, 17, udp(13)).emit()
    expect(UdpReject.LENGTH_LONG, parse_frame, EthernetFrame(MAC_B, MAC_A, 0x0800, long).emit())
    short = Ipv4Packet(A, B, 17, udp(7)).emit()
    expect(UdpReject.LENGTH_SHORT, parse_frame, EthernetFrame(MAC_B, MAC_A, 0x0800, short).emit())


def test_frame_message_length_must_match() -> None:
    frame = TEMPLATE.message(MsgType.DATA, 5, b"abc")
    patched = frame[:58] + (4).to_bytes(4, "big") + frame[62:]  # mh_len 4, but 3 bytes follow
    with pytest.raises(WireError) as info:
        parse_frame(patched, verify=False)
    assert info.value.field == "message.mh_len"


# Emitting values that do not fit their fields


@pytest.mark.parametrize(
    "emit",
    [
        lambda: EthernetFrame(MAC_B, MAC_A, 0x10000).emit(),
        lambda: ArpPacket(0x10000, MAC_A, A, MAC_B, B).emit(),
        lambda: Ipv4Packet(A, B, 256).emit(),
        lambda: Ipv4Packet(A, B, 17, flags=8).emit(),
        lambda: Ipv4Packet(A, B, 17, bytes(0x10000)).emit(),
        lambda: UdpDatagram(0x10000, 1).emit(A, B),
        lambda: UdpDatagram(1, 1, bytes(0x10000)).emit(A, B),
        lambda: TEMPLATE.message(MsgType.DATA, 2**32, b""),
        lambda: TEMPLATE.message(MsgType.DATA, 1, bytes(0x10000)),
        lambda: TEMPLATE.ack(-1),
        lambda: EthernetFrame(MAC_A[:5], MAC_B, 0x0800),
        lambda: ArpPacket.request(MAC_A, "192.0.2.1", B),  # type: ignore[arg-type]
        lambda: FrameTemplate(MAC_A, MAC_B, A, B, 70000, 1),
    ],
)
def test_emit_refuses_values_that_do_not_fit(emit: object) -> None:
    with pytest.raises(WireError):
        emit()  # type: ignore[operator]


def expected_ipv4_reason(vihl: int, total: int, frag: int, good: bool, size: int) -> object:
    """The §4 checks in order, written out plainly as an oracle."""
    if size < 20:
        return Ipv4Reject.TOO_SHORT
    if vihl >> 4 != 4:
        return Ipv4Reject.BAD_VERSION
    if vihl & 0xF < 5:
        return Ipv4Reject.BAD_IHL
    if vihl & 0xF > 5:
        return Ipv4Reject.OPTIONS
    if not good:
        return Ipv4Reject.BAD_CHECKSUM
    if total < 20:
        return Ipv4Reject.LENGTH_SHORT
    if total > size:
        return Ipv4Reject.LENGTH_LONG
    if frag & 0x3FFF:
        return Ipv4Reject.FRAGMENT
    return None


@given(
    st.integers(0, 255),
    st.integers(0, 80),
    st.integers(0, 0xFFFF),
    st.booleans(),
    st.integers(0, 60),
)
def test_ipv4_reason_is_the_first_failed_check(
    vihl: int, total: int, frag: int, good: bool, size: int
) -> None:
    header = ip_header(vihl=vihl, total=total, frag=frag, good=good)
    packet = (header + bytes(60))[:size]
    expected = expected_ipv4_reason(vihl, total, frag, good, size)
    try:
        Ipv4Packet.parse(packet)
    except WireError as err:
        assert err.reason == expected
    else:
        assert expected is None
