"""scapy as an independent oracle: it dissects what we emit, we parse what it builds."""

from __future__ import annotations

import importlib
from ipaddress import IPv4Address
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debugnet.wire.arp import ArpPacket
from debugnet.wire.ethernet import EthernetFrame, EtherType, mac_to_str
from debugnet.wire.frame import FrameTemplate, parse_frame
from debugnet.wire.ipv4 import IpProto, Ipv4Packet
from debugnet.wire.message import Ack, Message, MessageHeader
from debugnet.wire.udp import UdpDatagram

ORACLE = settings(max_examples=40, deadline=None)
macs = st.binary(min_size=6, max_size=6)
addrs = st.integers(0, 2**32 - 1).map(IPv4Address)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 2**32 - 1)
templates = st.builds(FrameTemplate, macs, macs, addrs, addrs, u16, u16)


@pytest.fixture(scope="module")
def scapy() -> ModuleType:
    """scapy.all, imported only when these tests run (it takes seconds).

    scapy is a test dependency: a missing scapy fails here rather than skipping.
    """
    module = importlib.import_module("scapy.all")
    module.conf.verb = 0
    return module


def recomputed(scapy: ModuleType, frame: bytes) -> bytes:
    """The frame rebuilt by scapy with every checksum it knows recomputed."""
    packet = scapy.Ether(frame)
    for layer in (scapy.IP, scapy.UDP):
        if packet.haslayer(layer):
            del packet[layer].chksum
    return bytes(packet)


def assert_udp_frame(scapy: ModuleType, frame: bytes, template: FrameTemplate) -> Any:
    packet = scapy.Ether(frame)
    assert packet.dst == mac_to_str(template.dst_mac)
    assert packet.src == mac_to_str(template.src_mac)
    assert packet.type == EtherType.IPV4
    ip = packet[scapy.IP]
    assert (ip.version, ip.ihl, ip.tos, ip.id, ip.ttl, ip.proto) == (4, 5, 0, 0, 255, 17)
    assert (int(ip.flags), ip.frag) == (2, 0)  # DF only
    assert (ip.src, ip.dst) == (str(template.src_ip), str(template.dst_ip))
    udp = packet[scapy.UDP]
    assert (udp.sport, udp.dport) == (template.sport, template.dport)
    assert ip.len == 20 + udp.len
    assert udp.chksum != 0
    assert recomputed(scapy, frame) == frame  # scapy computes the same IP and UDP checksums
    # The payload as scapy delimits it, taken from our bytes: scapy dissects well-known
    # ports (137 as NBNS, 53 as DNS...) into layers of its own, so no Raw layer to read.
    start = 14 + ip.ihl * 4 + 8
    return frame[start : start + udp.len - 8]


@ORACLE
@given(templates, u32, u32, st.integers(0, 2**64 - 1), u32, st.binary(max_size=1448))
def test_scapy_dissects_our_message_frames(
    scapy: ModuleType,
    template: FrameTemplate,
    kind: int,
    seqno: int,
    offset: int,
    aux2: int,
    data: bytes,
) -> None:
    frame = template.message(kind, seqno, data, offset, aux2)
    payload = assert_udp_frame(scapy, frame, template)
    assert payload[:24] == MessageHeader(kind, seqno, offset, len(data), aux2).emit()
    assert payload[24:] == data  # scapy strips the Ethernet padding as IP says


@ORACLE
@given(templates, u32)
def test_scapy_dissects_our_ack_frames(
    scapy: ModuleType, template: FrameTemplate, seqno: int
) -> None:
    frame = template.ack(seqno)
    assert assert_udp_frame(scapy, frame, template) == Ack(seqno).emit()
    assert bytes(scapy.Ether(frame)[scapy.Padding]) == bytes(14)


@ORACLE
@given(macs, addrs, macs, addrs, st.sampled_from([1, 2]))
def test_scapy_dissects_our_arp(
    scapy: ModuleType, sha: bytes, spa: IPv4Address, tha: bytes, tpa: IPv4Address, op: int
) -> None:
    arp = ArpPacket(op, sha, spa, tha, tpa)
    frame = EthernetFrame(b"\xff" * 6, sha, EtherType.ARP, arp.emit()).emit()
    packet = scapy.Ether(frame)[scapy.ARP]
    assert (packet.hwtype, packet.ptype, packet.hwlen, packet.plen) == (1, 0x0800, 6, 4)
    assert (packet.op, packet.hwsrc, packet.psrc) == (op, mac_to_str(sha), str(spa))
    assert (packet.hwdst, packet.pdst) == (mac_to_str(tha), str(tpa))


@ORACLE
@given(addrs, addrs, st.integers(0, 255), st.binary(max_size=200), st.integers(0, 255), u16)
def test_scapy_agrees_on_ipv4_and_udp(
    scapy: ModuleType,
    src: IPv4Address,
    dst: IPv4Address,
    tos: int,
    data: bytes,
    ttl: int,
    port: int,
) -> None:
    segment = UdpDatagram(port, 0xFFFF - port, data).emit(src, dst)
    packet = Ipv4Packet(src, dst, IpProto.UDP, segment, ttl=ttl, tos=tos, ident=port).emit()
    theirs = scapy.IP(packet)
    assert (theirs.tos, theirs.ttl, theirs.id) == (tos, ttl, port)
    del theirs.chksum
    del theirs[scapy.UDP].chksum
    assert bytes(theirs) == packet


@ORACLE
@given(
    macs,
    macs,
    addrs,
    addrs,
    u16,
    u16,
    st.integers(0, 255),
    st.integers(0, 255),
    u16,
    st.sampled_from(["", "DF"]),
    u32,
    u32,
    st.binary(max_size=600),
)
def test_we_parse_what_scapy_builds(
    scapy: ModuleType,
    dst_mac: bytes,
    src_mac: bytes,
    src: IPv4Address,
    dst: IPv4Address,
    sport: int,
    dport: int,
    ttl: int,
    tos: int,
    ident: int,
    flags: str,
    kind: int,
    seqno: int,
    data: bytes,
) -> None:
    message = Message.build(kind, seqno, data, offset=seqno * 7, aux2=kind)
    built = (
        scapy.Ether(dst=mac_to_str(dst_mac), src=mac_to_str(src_mac))
        / scapy.IP(src=str(src), dst=str(dst), ttl=ttl, tos=tos, id=ident, flags=flags)
        / scapy.UDP(sport=sport, dport=dport)
        / scapy.Raw(message.emit())
    )
    frame = bytes(built)
    parsed = parse_frame(frame)
    assert (parsed.dst_mac, parsed.src_mac) == (dst_mac, src_mac)
    assert (parsed.src_ip, parsed.dst_ip, parsed.sport, parsed.dport) == (src, dst, sport, dport)
    assert parsed.body == message
    ip = Ipv4Packet.parse(EthernetFrame.parse(frame).payload)
    assert (ip.ttl, ip.tos, ip.ident, ip.flags) == (ttl, tos, ident, 2 if flags else 0)
    # An ack as scapy builds it, padded to the minimum frame by scapy's Padding layer.
    ack_frame = bytes(
        scapy.Ether(dst=mac_to_str(dst_mac), src=mac_to_str(src_mac))
        / scapy.IP(src=str(src), dst=str(dst))
        / scapy.UDP(sport=sport, dport=dport)
        / scapy.Raw(Ack(seqno).emit())
        / scapy.Padding(bytes(14))
    )
    assert parse_frame(ack_frame).body == Ack(seqno)


@ORACLE
@given(macs, addrs, macs, addrs, st.sampled_from([1, 2, 3]))
def test_we_parse_scapy_arp(
    scapy: ModuleType, sha: bytes, spa: IPv4Address, tha: bytes, tpa: IPv4Address, op: int
) -> None:
    frame = bytes(
        scapy.Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(sha))
        / scapy.ARP(
            op=op, hwsrc=mac_to_str(sha), psrc=str(spa), hwdst=mac_to_str(tha), pdst=str(tpa)
        )
    )
    eth = EthernetFrame.parse(frame)
    assert eth.ethertype == EtherType.ARP
    assert ArpPacket.parse(eth.payload) == ArpPacket(op, sha, spa, tha, tpa)
