"""Golden frames written by hand from the formats, checksums derived in comments.

The same numbers were cross-checked against scapy (see test_wire_scapy.py for
the systematic comparison); these vectors pin them without any oracle.
"""

from ipaddress import IPv4Address

from debugnet.wire.arp import ArpOp, ArpPacket
from debugnet.wire.checksum import combine, finish, internet_checksum, ones_sum
from debugnet.wire.ethernet import BROADCAST_MAC, EthernetFrame, EtherType
from debugnet.wire.frame import FrameTemplate, parse_frame
from debugnet.wire.ipv4 import IpProto, Ipv4Packet
from debugnet.wire.message import Ack, Message, MsgType
from debugnet.wire.udp import UdpDatagram

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
CLIENT = IPv4Address("192.0.2.1")  # c000 0201
SERVER = IPv4Address("192.0.2.2")  # c000 0202

ARP_REQUEST = bytes.fromhex(
    "0001 0800 06 04 0001"  # hrd Ethernet, pro IPv4, hln 6, pln 4, op request
    "020000000001 c0000201"  # sha, spa 192.0.2.1
    "000000000000 c0000202"  # tha (unknown), tpa 192.0.2.2
)

# IPv4 header of a 32-byte packet (20 + UDP 8 + ack 4), DF, TTL 255, UDP:
#   4500 + 0020 + 0000 + 4000 + ff11 + c000 + 0201 + c000 + 0202 = 0x30834
#   fold: 0x0834 + 0x3 = 0x0837; checksum = ~0x0837 = 0xf7c8
IP_HEADER = bytes.fromhex("4500 0020 0000 4000 ff11 f7c8 c0000201 c0000202")

# UDP 20024 (4e38) -> 20023 (4e37), length 12, carrying ack seqno 1:
#   pseudo-header c000 + 0201 + c000 + 0202 + 0011 + 000c = 0x18420
#   header 4e38 + 4e37 + 000c (+ checksum 0) -> 0x2209b; data 0000 + 0001 -> 0x2209c
#   fold: 0x209c + 0x2 = 0x209e; checksum = ~0x209e = 0xdf61
UDP_ACK = bytes.fromhex("4e38 4e37 000c df61 00000001")

ACK_FRAME = (
    bytes.fromhex("020000000002 020000000001 0800")  # to the server, from the client
    + IP_HEADER
    + UDP_ACK
    + bytes(14)  # 14 + 20 + 8 + 4 = 46 bytes, zero-padded to the 60-byte minimum
)


def test_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, folded 0xddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D
    # Split at an even offset, then at an odd one (whose piece's sum is byte-swapped).
    assert combine(ones_sum(data[:2]), ones_sum(data[2:])) == 0xDDF2
    assert combine(ones_sum(data[:3]), ones_sum(data[3:], odd_offset=True)) == 0xDDF2
    assert finish(0xDDF2) == 0x220D


def test_checksum_zero_and_ones() -> None:
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(bytes(7)) == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0  # a sum of 0xffff, never folded to 0
    assert internet_checksum(b"\x01") == 0xFEFF  # odd tail padded on the right: 0100


def test_arp_request_golden() -> None:
    packet = ArpPacket.request(CLIENT_MAC, CLIENT, SERVER)
    assert packet.emit() == ARP_REQUEST
    assert ArpPacket.parse(ARP_REQUEST) == packet
    assert packet.op is ArpOp.REQUEST


def test_arp_request_in_padded_ethernet_frame() -> None:
    frame = EthernetFrame(BROADCAST_MAC, CLIENT_MAC, EtherType.ARP, ARP_REQUEST).emit()
    expected = bytes.fromhex("ffffffffffff 020000000001 0806") + ARP_REQUEST + bytes(18)
    assert frame == expected
    assert len(frame) == 60
    parsed = EthernetFrame.parse(frame)
    assert parsed.ethertype is EtherType.ARP
    assert parsed.payload == ARP_REQUEST + bytes(18)  # Ethernet cannot know the padding
    assert ArpPacket.parse(parsed.payload).tpa == SERVER


def test_udp_ipv4_ack_golden() -> None:
    udp = UdpDatagram(20024, 20023, Ack(1).emit())
    assert udp.emit(CLIENT, SERVER) == UDP_ACK
    packet = Ipv4Packet(CLIENT, SERVER, IpProto.UDP, UDP_ACK)
    assert packet.emit() == IP_HEADER + UDP_ACK
    assert Ipv4Packet.parse(IP_HEADER + UDP_ACK) == packet
    assert UdpDatagram.parse(UDP_ACK, CLIENT, SERVER) == udp


def test_padded_frame_golden_and_trimmed() -> None:
    template = FrameTemplate(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, 20024, 20023)
    assert template.ack(1) == ACK_FRAME
    eth = EthernetFrame.parse(ACK_FRAME)
    assert eth.payload == IP_HEADER + UDP_ACK + bytes(14)
    ip = Ipv4Packet.parse(eth.payload)
    assert ip.payload == UDP_ACK  # the padding beyond total length is gone
    parsed = parse_frame(ACK_FRAME)
    assert (parsed.src_ip, parsed.dst_ip, parsed.sport, parsed.dport) == (
        CLIENT,
        SERVER,
        20024,
        20023,
    )
    assert parsed.body == Ack(1)


def test_udp_computed_zero_is_sent_as_ffff() -> None:
    # Without data the words above sum to 0x2209b, folded 0x209d. Data 0000 df62 brings the
    # sum to 0x209d + 0xdf62 = 0xffff, whose complement 0 must go out as ffff.
    udp = UdpDatagram(20024, 20023, bytes.fromhex("0000df62"))
    assert udp.emit(CLIENT, SERVER) == bytes.fromhex("4e38 4e37 000c ffff 0000df62")
    assert UdpDatagram.parse(udp.emit(CLIENT, SERVER), CLIENT, SERVER) == udp
    template = FrameTemplate(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, 20024, 20023)
    assert template.ack(0xDF62)[38:44] == bytes.fromhex("000c ffff 0000")


def test_udp_received_zero_checksum_means_none() -> None:
    unchecked = bytes.fromhex("4e38 4e37 000c 0000 00000001")
    assert UdpDatagram.parse(unchecked, CLIENT, SERVER).payload == b"\x00\x00\x00\x01"


def test_message_frame_golden() -> None:
    # HERALD seqno 1 with the path "a" and its NUL:
    # UDP length 8 + 24 + 2 = 34 (0x22), IP total 54 (0x36).
    # IP: 0x30834 - 0x20 + 0x36 = 0x3084a -> 0x084d -> checksum 0xf7b2
    # UDP: pseudo c000+0201+c000+0202+0011+0022 = 0x18436; + 4e38 + 4e37 + 0022 = 0x220c7;
    #   message header words 0000 0001 0000 0001 0000 0000 0000 0000 0000 0002 0000 0000
    #   add 4 -> 0x220cb; data 6100 -> 0x281cb; fold 0x81cb + 2 = 0x81cd;
    #   checksum ~0x81cd = 0x7e32 (scapy's raw() of the same packet agrees)
    template = FrameTemplate(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, 20024, 20023)
    frame = template.message(MsgType.HERALD, 1, b"a\x00")
    expected = (
        bytes.fromhex("020000000002 020000000001 0800")
        + bytes.fromhex("4500 0036 0000 4000 ff11 f7b2 c0000201 c0000202")
        + bytes.fromhex("4e38 4e37 0022 7e32")
        + bytes.fromhex("00000001 00000001 0000000000000000 00000002 00000000")
        + b"a\x00"
    )
    assert frame == expected  # 68 bytes: no padding needed
    parsed = parse_frame(frame)
    assert isinstance(parsed.body, Message)
    assert parsed.body.header.type == MsgType.HERALD
    assert parsed.body.data == b"a\x00"
