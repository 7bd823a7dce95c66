"""The raw path end to end in virtual time: RawShell + InetStack + NetdumpClient on the
in-memory wire, scapy-built hosts and a router as peers, seeded loss, reordering and
duplication; the interface's input diverted and restored on every exit path."""

from __future__ import annotations

import random

import pytest

from debugnet.devices.memwire import WirePort
from debugnet.errors import Busy, NetworkDown, NoDevice, NotSupportedByDevice, TimedOut
from debugnet.ifnet import IfFlags, Ifnet, IfOps, IfTable
from debugnet.inet.drops import Drop
from debugnet.inet.rawshell import RawShell
from debugnet.inet.stack import InetStack
from debugnet.sim import LinkConfig
from debugnet.transport.config import TransportConfig
from tests import rawnet

FAST = LinkConfig(rate_bps=1e9, delay=0.0002)


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def assert_delivered(net: rawnet.RawNet, data: bytes) -> None:
    seen = net.server.seen
    assert seen.finished == [True]
    assert bytes(seen.files[0]) == data
    assert seen.kdhs[0] and len(set(seen.kdhs[0])) == 1  # resent KDHs are the same


def test_direct_dump_is_byte_exact_and_the_input_path_is_restored() -> None:
    net = rawnet.build(FAST)
    data = payload(200_000)
    port: WirePort = net.client_ifp.softc
    during: list[bool] = []
    dump, shell = rawnet.run_dump(net, data, before=lambda s: during.append(port.ring.diverted))
    assert dump.done and during == [True]
    assert_delivered(net, data)
    assert net.client_ifp.input_hook is None and not port.ring.diverted  # END sent
    stats = shell.stack.stats
    assert stats.arp_requests_sent == 1 and stats.delivered >= dump.conn.stats.packets_sent - 1
    assert stats.trimmed == stats.delivered  # every ack arrived padded to 60 bytes
    assert not stats.drops


def test_through_a_router_the_server_is_tried_first_then_the_gateway() -> None:
    net = rawnet.build(FAST, routed=True)
    data = payload(150_000)
    transport = TransportConfig(arp_nretries=2)
    rawnet.run_dump(
        net, data, server=rawnet.FAR_SERVER_IP, gateway=rawnet.ROUTER_IP_A, transport=transport
    )
    assert_delivered(net, data)
    assert net.router is not None
    asked = [a.pdst for a in net.router.arp_requests_seen if a.psrc == str(rawnet.CLIENT_IP)]
    assert asked == [str(rawnet.FAR_SERVER_IP)] * 2 + [str(rawnet.ROUTER_IP_A)]


def test_the_responder_answers_a_peer_that_must_arp_for_us() -> None:
    net = rawnet.build(FAST)
    net.server_host.learn_from_requests = False
    data = payload(50_000)
    _, shell = rawnet.run_dump(net, data)
    assert_delivered(net, data)
    replies = net.server_host.arp_replies_seen
    assert [(r.psrc, r.hwsrc) for r in replies] == [
        (str(rawnet.CLIENT_IP), rawnet.mac_str(rawnet.CLIENT_MAC))
    ]
    assert shell.stack.stats.arp_replies_sent == 1


def test_the_transport_mtu_is_the_interfaces() -> None:
    net = rawnet.build(FAST, mtu=576)
    data = payload(60_000)
    dump, _ = rawnet.run_dump(net, data)
    assert_delivered(net, data)
    assert dump.config.payload_size == 576 - 52
    assert net.server_host.largest_in == 14 + 576


IMPAIRED = [
    pytest.param(LinkConfig(rate_bps=1e9, delay=0.0005, loss=0.05), id="loss5"),
    pytest.param(LinkConfig(rate_bps=1e9, delay=0.0005, jitter=0.0004, reorder=0.2), id="reorder"),
    pytest.param(LinkConfig(rate_bps=1e9, delay=0.0005, duplicate=0.1), id="duplicate"),
    pytest.param(
        LinkConfig(rate_bps=1e8, delay=0.001, loss=0.02, duplicate=0.02, reorder=0.05), id="mixed"
    ),
]


@pytest.mark.parametrize("link", IMPAIRED)
@pytest.mark.parametrize("seed", [1, 2])
def test_impaired_wire_still_byte_exact(link: LinkConfig, seed: int) -> None:
    net = rawnet.build(link, seed=seed)
    data = payload(80_000, seed)
    dump, _ = rawnet.run_dump(net, data)
    assert_delivered(net, data)
    if link.loss:
        assert dump.conn.stats.retransmissions > 0


def test_corruption_is_dropped_by_checksum() -> None:
    net = rawnet.build(LinkConfig(rate_bps=1e9, delay=0.0005, corrupt=0.05), seed=3)
    data = payload(120_000, 3)
    _, shell = rawnet.run_dump(net, data)
    assert_delivered(net, data)
    drops = shell.stack.stats.drops
    assert sum(drops.values()) > 0
    assert set(drops) <= {
        Drop.UDP_CHECKSUM,
        Drop.IP_CHECKSUM,
        Drop.NOT_OUR_MAC,
        Drop.ETHERTYPE,
        Drop.IP_NOT_FROM_SERVER,
        Drop.IP_NOT_TO_US,
        Drop.IP_VERSION,
        Drop.IP_OPTIONS,
        Drop.IP_IHL,
        Drop.IP_LENGTH_LONG,
        Drop.IP_LENGTH_SHORT,
        Drop.IP_FRAGMENT,
        Drop.IP_PROTO,
        Drop.ICMP,
        Drop.UDP_PORT,
        Drop.UDP_LENGTH,
        Drop.VLAN_TAGGED,
    }


def test_arp_timeout_fails_and_restores_the_interface() -> None:
    net = rawnet.build(FAST)
    net.server_host.ports[0].ifp.input_hook = lambda ifp, frame, rx: None  # a mute server
    transport = TransportConfig(arp_nretries=2)
    port: WirePort = net.client_ifp.softc
    with pytest.raises(TimedOut, match="ARP timed out"):
        rawnet.run_dump(net, payload(1000), transport=transport)
    assert net.client_ifp.input_hook is None and not port.ring.diverted
    assert net.sim.now == pytest.approx(2 * transport.npolls * transport.poll_interval, rel=0.01)


def test_a_second_user_gets_ebusy() -> None:
    net = rawnet.build(FAST)
    config = rawnet.stack_config()
    first = net.shell(config)
    with first:
        with pytest.raises(Busy):
            first.open()
        with pytest.raises(Busy):
            net.shell(config).open()  # the interface's input is already diverted
    with net.shell(config):
        pass  # free again once the first closed


def test_interface_without_debugnet_is_enodev_and_down_is_enxio() -> None:
    table = IfTable()
    plain = Ifnet("plain0", IfOps(output=lambda ifp, frame: None), lladdr=rawnet.CLIENT_MAC)
    table.attach(plain)
    plain.flags |= IfFlags.UP | IfFlags.RUNNING
    with pytest.raises(NotSupportedByDevice):
        RawShell(plain, InetStack(rawnet.stack_config())).open()
    net = rawnet.build(FAST)
    net.client_ifp.flags &= ~IfFlags.UP
    with pytest.raises(NoDevice):
        net.shell(rawnet.stack_config()).open()
    assert net.client_ifp.input_hook is None


def test_interface_going_down_mid_dump_is_enetdown_and_restores_input() -> None:
    net = rawnet.build(LinkConfig(rate_bps=1e8, delay=0.0005))
    net.sim.call_at(0.005, lambda: setattr(net.client_ifp, "flag_bits", int(IfFlags.UP)))
    port: WirePort = net.client_ifp.softc
    with pytest.raises(NetworkDown):
        rawnet.run_dump(net, payload(500_000))
    assert net.client_ifp.input_hook is None and not port.ring.diverted


def test_monitor_mode_is_enetdown() -> None:
    net = rawnet.build(FAST)
    net.client_ifp.flags |= IfFlags.MONITOR
    with pytest.raises(NetworkDown):
        rawnet.run_dump(net, payload(1000))
