"""The raw path's input and output, frame by frame: every drop reason from a frame crafted
with scapy (an independent implementation), its counter checked; ARP as the seeds specify."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from debugnet.errors import LocalProtocolError, NoBuffers, TimedOut
from debugnet.ifnet.rxinfo import RxFlags, RxInfo
from debugnet.inet.config import StackConfig
from debugnet.inet.drops import Drop
from debugnet.inet.stack import InetStack, StackState
from debugnet.wire.ethernet import fcs

OUR_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"
GW_MAC = "02:00:00:00:00:03"
CLIENT = "192.0.2.10"
SERVER = "192.0.2.1"
GATEWAY = "192.0.2.254"
BCAST = "ff:ff:ff:ff:ff:ff"
ACK = b"\x00\x00\x00\x01"


def config(gateway: str | None = None, **kw: object) -> StackConfig:
    return StackConfig(
        bytes.fromhex(OUR_MAC.replace(":", "")),
        IPv4Address(CLIENT),
        IPv4Address(SERVER),
        IPv4Address(gateway) if gateway else None,
        npolls=10,
        poll_interval=0.01,
        **kw,  # type: ignore[arg-type]
    )


def resolved(gateway: str | None = None, **kw: object) -> InetStack:
    stack = InetStack(config(gateway, **kw))
    stack.start(0.0)
    stack.frames_to_send()
    reply = Ether(dst=OUR_MAC, src=PEER_MAC) / ARP(
        op=2, hwsrc=PEER_MAC, psrc=SERVER, hwdst=OUR_MAC, pdst=CLIENT
    )
    assert stack.input(bytes(reply)) is None
    assert stack.state is StackState.HAVE_GW_MAC
    return stack


def udp_frame(payload: bytes = ACK, **kw: object) -> Ether:
    ip = {"src": SERVER, "dst": CLIENT, **{k[3:]: v for k, v in kw.items() if k.startswith("ip_")}}
    udp = {"sport": 40000, "dport": 20024}
    udp.update({k[4:]: v for k, v in kw.items() if k.startswith("udp_")})  # type: ignore[misc]
    return Ether(dst=OUR_MAC, src=PEER_MAC) / IP(**ip) / UDP(**udp) / Raw(payload)


def arp(op: int = 1, **kw: object) -> Ether:
    fields = {"op": op, "hwsrc": PEER_MAC, "psrc": SERVER, "pdst": CLIENT, **kw}
    return Ether(dst=BCAST, src=PEER_MAC) / ARP(**fields)


def only_drop(stack: InetStack, reason: Drop) -> None:
    assert dict(stack.stats.drops) == {reason: 1}


def test_an_ack_is_delivered_with_the_servers_port() -> None:
    stack = resolved()
    assert stack.input(bytes(udp_frame())) == (ACK, 40000)
    assert stack.stats.delivered == 1 and not stack.stats.drops


def test_padding_beyond_the_ip_length_is_trimmed_not_dropped() -> None:
    stack = resolved()
    frame = bytes(udp_frame()).ljust(60, b"\0")  # a NIC pads the 46-byte ack to 60
    assert stack.input(frame) == (ACK, 40000)
    assert stack.stats.trimmed == 1 and not stack.stats.drops


def test_a_trailing_fcs_is_stripped_when_the_driver_says_so() -> None:
    stack = resolved()
    frame = bytes(udp_frame())
    assert stack.input(frame + fcs(frame), RxInfo(RxFlags.FCS)) == (ACK, 40000)
    assert stack.stats.fcs_stripped == 1


CASES: list[tuple[Drop, Ether | bytes, RxInfo]] = [
    (Drop.RUNT, bytes(Ether(dst=OUR_MAC, src=PEER_MAC))[:13], RxInfo()),
    (
        Drop.VLAN_TAGGED,
        Ether(dst=OUR_MAC, src=PEER_MAC)
        / Dot1Q(vlan=5)
        / IP(src=SERVER, dst=CLIENT)
        / UDP(dport=20024),
        RxInfo(),
    ),
    (Drop.VLAN_STRIPPED, udp_frame(), RxInfo(RxFlags.VLAN, 5)),
    (
        Drop.NOT_OUR_MAC,
        Ether(dst=GW_MAC, src=PEER_MAC) / IP(src=SERVER, dst=CLIENT) / UDP(dport=20024) / Raw(ACK),
        RxInfo(),
    ),
    (
        Drop.NOT_OUR_MAC,
        Ether(dst=GW_MAC, src=PEER_MAC) / ARP(op=1, hwsrc=PEER_MAC, psrc=SERVER, pdst=CLIENT),
        RxInfo(),
    ),
    (Drop.ETHERTYPE, Ether(dst=OUR_MAC, src=PEER_MAC, type=0x86DD) / Raw(bytes(40)), RxInfo()),
    (Drop.ARP_SHORT, bytes(arp())[: 14 + 20], RxInfo()),
    (Drop.ARP_HRD, arp(hwtype=6), RxInfo()),
    (Drop.ARP_PRO, arp(ptype=0x86DD), RxInfo()),
    (Drop.ARP_LENGTHS, arp(hwlen=64, plen=16), RxInfo()),
    (Drop.ARP_FROM_US, arp(hwsrc=OUR_MAC), RxInfo()),
    (Drop.ARP_ADDR_IN_USE, arp(psrc=CLIENT, pdst=SERVER), RxInfo()),
    (Drop.ARP_FROM_BROADCAST, arp(hwsrc=BCAST), RxInfo()),
    (
        Drop.ARP_UNWANTED_REPLY,
        Ether(dst=OUR_MAC, src=GW_MAC) / ARP(op=2, hwsrc=GW_MAC, psrc=GATEWAY, pdst=CLIENT),
        RxInfo(),
    ),
    (Drop.ARP_NOT_FOR_US, arp(pdst="192.0.2.77"), RxInfo()),
    (Drop.ARP_OP, arp(op=8), RxInfo()),
    (Drop.IP_SHORT, bytes(udp_frame())[: 14 + 19], RxInfo()),
    (Drop.IP_VERSION, bytes(udp_frame())[:14] + b"\x65" + bytes(udp_frame())[15:], RxInfo()),
    (Drop.IP_IHL, bytes(udp_frame())[:14] + b"\x44" + bytes(udp_frame())[15:], RxInfo()),
    (
        Drop.IP_OPTIONS,
        Ether(dst=OUR_MAC, src=PEER_MAC)
        / IP(src=SERVER, dst=CLIENT, options=b"\x01\x01\x01\x00")
        / UDP(dport=20024)
        / Raw(ACK),
        RxInfo(),
    ),
    (Drop.IP_CHECKSUM, udp_frame(ip_chksum=0x1234), RxInfo()),
    (Drop.IP_LENGTH_SHORT, udp_frame(ip_len=19), RxInfo()),
    (Drop.IP_LENGTH_LONG, udp_frame(ip_len=200), RxInfo()),
    (Drop.IP_NOT_FROM_SERVER, udp_frame(ip_src="192.0.2.99"), RxInfo()),
    (Drop.IP_NOT_TO_US, udp_frame(ip_dst="192.0.2.99"), RxInfo()),
    (
        Drop.ICMP,
        Ether(dst=OUR_MAC, src=PEER_MAC)
        / IP(src=SERVER, dst=CLIENT)
        / ICMP(type=3, code=3)
        / Raw(bytes(28)),
        RxInfo(),
    ),
    (
        Drop.IP_PROTO,
        Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=SERVER, dst=CLIENT, proto=6) / Raw(bytes(20)),
        RxInfo(),
    ),
    (Drop.IP_FRAGMENT, udp_frame(ip_flags="MF"), RxInfo()),
    (Drop.IP_FRAGMENT, udp_frame(ip_frag=100, ip_flags=0), RxInfo()),
    (
        Drop.UDP_SHORT,
        Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=SERVER, dst=CLIENT, proto=17) / Raw(bytes(6)),
        RxInfo(),
    ),
    (Drop.UDP_PORT, udp_frame(udp_dport=20026), RxInfo()),
    (Drop.UDP_LENGTH, udp_frame(udp_len=200), RxInfo()),
    (Drop.UDP_LENGTH, udp_frame(udp_len=7), RxInfo()),
    (Drop.UDP_CHECKSUM, udp_frame(udp_chksum=0x1234), RxInfo()),
]


@pytest.mark.parametrize(
    ("reason", "frame", "rx"), CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)]
)
def test_every_drop_reason_is_counted(reason: Drop, frame: Ether | bytes, rx: RxInfo) -> None:
    stack = resolved()
    assert stack.input(bytes(frame), rx) is None
    only_drop(stack, reason)
    assert stack.stats.delivered == 0
    assert stack.frames_to_send() == []  # not one of them is answered


def test_every_reason_has_a_case() -> None:
    assert {c[0] for c in CASES} | {Drop.IP_NO_NEXT_HOP} == set(Drop)


def test_no_ip_input_before_the_next_hop_is_known() -> None:
    stack = InetStack(config())
    stack.start(0.0)
    assert stack.input(bytes(udp_frame())) is None
    only_drop(stack, Drop.IP_NO_NEXT_HOP)


@pytest.mark.parametrize("flag", [RxFlags.CSUM_NOT_READY, RxFlags.CSUM_VALID])
def test_driver_checksum_flags_are_trusted(flag: RxFlags) -> None:
    """Over veth the kernel hands over acks whose UDP checksum is not filled in yet."""
    stack = resolved()
    frame = bytes(udp_frame(udp_chksum=0x1234))
    assert stack.input(frame, RxInfo(flag)) == (ACK, 40000)
    assert stack.input(frame) is None
    assert stack.stats.trusted == 1 and dict(stack.stats.drops) == {Drop.UDP_CHECKSUM: 1}


def test_a_zero_udp_checksum_means_none() -> None:
    stack = resolved()
    assert stack.input(bytes(udp_frame(udp_chksum=0))) == (ACK, 40000)


# -- ARP ------------------------------------------------------------------------------


def test_resolution_asks_for_the_server_then_the_gateway_then_times_out() -> None:
    stack = InetStack(config(GATEWAY, arp_nretries=2))
    stack.start(0.0)
    asked: list[str] = []
    now = 0.0
    while stack.error is None:
        for frame in stack.frames_to_send():
            pkt = Ether(frame)
            assert pkt.dst == BCAST and pkt[ARP].op == 1 and pkt[ARP].psrc == CLIENT
            assert pkt[ARP].hwsrc == OUR_MAC and pkt[ARP].hwdst == "00:00:00:00:00:00"
            asked.append(pkt[ARP].pdst)
        deadline = stack.next_deadline()
        assert deadline is not None and deadline > now
        now = deadline
        stack.handle_timer(now)
    assert asked == [SERVER, SERVER, GATEWAY, GATEWAY]
    assert isinstance(stack.error, TimedOut) and stack.state is StackState.FAILED
    assert now == pytest.approx(4 * 10 * 0.01)  # arp_nretries x npolls polls, per address
    assert stack.next_deadline() is None


def test_a_gateway_equal_to_the_server_is_not_asked_twice() -> None:
    stack = InetStack(config(SERVER, arp_nretries=1))
    stack.start(0.0)
    stack.handle_timer(1.0)
    assert isinstance(stack.error, TimedOut) and stack.arp.requests_sent == 1


def test_the_gateway_answers_after_the_server_did_not() -> None:
    stack = InetStack(config(GATEWAY, arp_nretries=1))
    stack.start(0.0)
    gw_reply = Ether(dst=OUR_MAC, src=GW_MAC) / ARP(op=2, hwsrc=GW_MAC, psrc=GATEWAY, pdst=CLIENT)
    stack.input(bytes(gw_reply))  # not the address being resolved yet: ignored
    assert stack.next_hop_mac is None
    stack.handle_timer(1.0)  # now asking for the gateway
    assert stack.input(bytes(gw_reply)) is None
    assert stack.next_hop_mac == bytes.fromhex("020000000003")
    assert dict(stack.stats.drops) == {Drop.ARP_UNWANTED_REPLY: 1}
    frame = stack.output(b"x" * 30, 20023)
    pkt = Ether(frame)
    assert pkt.dst == GW_MAC and pkt[IP].dst == SERVER  # to the server, through the gateway


def test_replies_count_only_while_resolving() -> None:
    stack = InetStack(config())
    reply = Ether(dst=OUR_MAC, src=PEER_MAC) / ARP(op=2, hwsrc=PEER_MAC, psrc=SERVER, pdst=CLIENT)
    stack.input(bytes(reply))  # before start
    assert stack.next_hop_mac is None
    stack = resolved()
    other = Ether(dst=OUR_MAC, src=GW_MAC) / ARP(op=2, hwsrc=GW_MAC, psrc=SERVER, pdst=CLIENT)
    stack.input(bytes(other))  # after resolution: the MAC does not change
    assert stack.next_hop_mac == bytes.fromhex("020000000002")
    only_drop(stack, Drop.ARP_UNWANTED_REPLY)


def test_no_mac_is_learnt_from_a_request() -> None:
    stack = InetStack(config())
    stack.start(0.0)
    stack.frames_to_send()
    stack.input(bytes(arp(op=1)))  # the server asks for us while we resolve it
    assert stack.next_hop_mac is None and stack.state is StackState.RESOLVING
    assert len(stack.frames_to_send()) == 1  # but it is answered


def test_a_request_for_us_gets_a_fresh_unicast_reply_to_the_arp_sender() -> None:
    stack = resolved()
    # The Ethernet source differs from the ARP sender: the reply goes to the ARP sender.
    request = Ether(dst=BCAST, src=GW_MAC) / ARP(op=1, hwsrc=PEER_MAC, psrc=SERVER, pdst=CLIENT)
    assert stack.input(bytes(request) + b"trailing junk") is None
    (frame,) = stack.frames_to_send()
    pkt = Ether(frame)
    assert pkt.dst == PEER_MAC and pkt.src == OUR_MAC and pkt.type == 0x0806
    assert len(frame) == 60 and frame[14 + 28 :] == bytes(60 - 42)  # 28 bytes, zero padded
    a = pkt[ARP]
    assert (a.op, a.hwtype, a.ptype, a.hwlen, a.plen) == (2, 1, 0x0800, 6, 4)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (OUR_MAC, CLIENT, PEER_MAC, SERVER)
    assert stack.stats.arp_replies_sent == 1


def test_hln_64_pln_16_gets_no_reply_while_a_well_formed_request_does() -> None:
    stack = resolved()
    bad = arp(hwlen=64, plen=16)
    assert stack.input(bytes(bad)) is None
    assert stack.frames_to_send() == []
    assert stack.input(bytes(arp())) is None
    assert len(stack.frames_to_send()) == 1
    only_drop(stack, Drop.ARP_LENGTHS)


def test_address_conflict_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    stack = resolved()
    caplog.set_level(logging.WARNING, "debugnet.inet.arp")
    for _ in range(3):
        stack.input(bytes(arp(op=2, psrc=CLIENT, pdst=SERVER)))
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [f"{PEER_MAC} is using my IP address {CLIENT}!"]
    assert stack.stats.drops[Drop.ARP_ADDR_IN_USE] == 3


# -- output ----------------------------------------------------------------------------


def test_output_is_what_the_seed_sends() -> None:
    stack = resolved()
    payload = bytes(range(256)) * 3
    pkt = Ether(stack.output(payload, 20023))
    assert (pkt.src, pkt.dst, pkt.type) == (OUR_MAC, PEER_MAC, 0x0800)
    ip = pkt[IP]
    assert (ip.id, ip.flags, ip.ttl, ip.frag, ip.tos, ip.ihl) == (0, "DF", 255, 0, 0, 5)
    assert (ip.src, ip.dst, ip.len) == (CLIENT, SERVER, 28 + len(payload))
    u = pkt[UDP]
    assert (u.sport, u.dport, u.len, bytes(u.payload)) == (20024, 20023, 8 + len(payload), payload)
    # scapy recomputes both checksums: ours must match
    rebuilt = IP(bytes(ip))
    del rebuilt.chksum
    del rebuilt[UDP].chksum
    rebuilt = IP(bytes(rebuilt))
    assert (rebuilt.chksum, rebuilt[UDP].chksum) == (ip.chksum, u.chksum)


def test_short_output_is_padded_and_oversize_refused() -> None:
    stack = resolved(mtu=576)
    assert len(stack.output(b"", 20023)) == 60
    assert len(stack.output(bytes(576 - 28), 20023)) == 14 + 576
    with pytest.raises(NoBuffers):
        stack.output(bytes(576 - 27), 20023)


def test_no_output_before_resolution() -> None:
    with pytest.raises(LocalProtocolError):
        InetStack(config()).output(b"x", 20023)
