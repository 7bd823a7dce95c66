"""The stack on a real veth with the Linux kernel and scapy on the other end (root).

Our end has no address. Frames are crafted with scapy inside the peer
namespace; the kernel there ARPs for us and sends UDP from its own stack,
whose checksums over veth are not filled in (PACKET_AUXDATA says so).
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from debugnet.devices import packet, tap
from debugnet.ifnet import IfTable
from debugnet.inet.config import StackConfig
from debugnet.inet.drops import Drop
from debugnet.inet.rawshell import RawShell
from debugnet.inet.stack import InetStack, StackState
from debugnet.netdump.client import NetdumpClient
from debugnet.netdump.dump import DumpOptions, DumpProducer
from debugnet.netdump.host import HostInfo
from debugnet.transport.config import TransportConfig
from tests.rawns import start_serve_in
from tests.test_devices_support import (
    HOST_IP,
    OUR_IP,
    NetNs,
    in_ns,
    ip,
    make_namespace,
    require_root,
    unique_tag,
    veth,
)

__all__ = ["veth"]  # fixture

pytestmark = pytest.mark.root

SCAPY_PEER = r"""
import json, sys, time
from scapy.all import ARP, IP, UDP, AsyncSniffer, Ether, Raw, conf, sendp
conf.verb = 0
iface, our_mac, host_mac, host_ip, our_ip = sys.argv[1:6]

def replies(frame, wait):
    # Real I/O: the first reply, or none within ``wait`` seconds.
    sniffer = AsyncSniffer(iface=iface, count=1,
                           lfilter=lambda p: ARP in p and p[ARP].op == 2 and p[ARP].psrc == our_ip)
    sniffer.start()
    time.sleep(0.3)  # the sniffer's socket must be open before the request leaves
    sendp(frame, iface=iface)
    sniffer.join(timeout=wait)
    if sniffer.running:
        sniffer.stop()
    return [bytes(p).hex() for p in sniffer.results or []]

base = Ether(dst="ff:ff:ff:ff:ff:ff", src=host_mac)
bad = base / ARP(op=1, hwlen=64, plen=16, hwsrc=host_mac, psrc=host_ip, pdst=our_ip)
good = base / ARP(op=1, hwsrc=host_mac, psrc=host_ip, pdst=our_ip)
bad_udp = (Ether(dst=our_mac, src=host_mac) / IP(src=host_ip, dst=our_ip)
           / UDP(sport=40000, dport=20024, chksum=0x1234) / Raw(b"\0\0\0\1"))
out = {"bad": replies(bad, 1.5), "good": replies(good, 10.0)}
sendp(bad_udp, iface=iface)
print(json.dumps(out))
"""


@pytest.fixture
def running(veth: tuple[str, NetNs]) -> Iterator[tuple[RawShell, NetNs]]:
    ours, ns = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    config = StackConfig(
        ifp.lladdr, IPv4Address(OUR_IP), IPv4Address(HOST_IP), npolls=200, poll_interval=0.005
    )
    shell = RawShell(ifp, InetStack(config))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            shell.service(0.01)

    try:
        with shell:
            assert shell.resolve() == ns.host_mac  # the kernel answered our ARP
            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            try:
                yield shell, ns
            finally:
                stop.set()
                thread.join(5)
        assert ifp.input_hook is None and not ifp.softc.diverted
    finally:
        packet.close(ifp)


def test_malformed_arp_gets_no_reply_a_well_formed_one_does(
    running: tuple[RawShell, NetNs],
) -> None:
    shell, ns = running
    mac = shell.ifp.lladdr.hex(":")
    peer_args = [ns.host_if, mac, ns.host_mac.hex(":"), str(HOST_IP), str(OUR_IP)]
    out = subprocess.run(
        [*("ip", "netns", "exec", ns.name, sys.executable, "-c", SCAPY_PEER), *peer_args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["bad"] == []
    (reply,) = {bytes.fromhex(r) for r in seen["good"]}
    assert reply[:6] == ns.host_mac and reply[6:12] == shell.ifp.lladdr
    assert reply[20:22] == b"\x00\x02" and reply[28:32] == OUR_IP.packed
    stats = shell.stack.stats
    assert stats.drops[Drop.ARP_LENGTHS] == 1 and shell.stack.arp.replies_sent == 1
    _wait_for(lambda: stats.drops[Drop.UDP_CHECKSUM] == 1)


def test_kernel_udp_is_delivered_as_checksum_not_ready(running: tuple[RawShell, NetNs]) -> None:
    """The kernel must ARP for us first (our responder answers), then its datagram comes
    with the checksum not filled in: the driver flag, not a software check, lets it in."""
    shell, ns = running
    code = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.bind(('{HOST_IP}', 40000)); s.sendto(b'\\0\\0\\0\\1', ('{OUR_IP}', 20024))"
    )
    ip("-n", ns.name, "neigh", "flush", "dev", ns.host_if)  # it learnt us from our request
    in_ns(ns.name, sys.executable, "-c", code)
    stats = shell.stack.stats
    _wait_for(lambda: stats.delivered == 1)
    assert stats.trusted == 1 and stats.arp_replies_sent >= 1
    assert not stats.drops.get(Drop.UDP_CHECKSUM)
    assert shell.stack.state is StackState.HAVE_GW_MAC


def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    """Real I/O from another process: wait for its effect, not for a protocol timer."""
    import time

    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_whole_dump_over_tap_to_debugnet_serve(tmp_path: Path) -> None:
    """The same shell and stack over the TAP driver: the host side of the TAP is moved
    into a namespace where the kernel (ARP, IP, UDP) and `debugnet serve` answer."""
    require_root()
    tag = unique_tag()
    ns = make_namespace(tag)
    table = IfTable()
    ifp = tap.attach_tap(table, f"dnv{tag}", bytes.fromhex("0200c0ffee02"))
    serve = None
    try:
        host_if = ifp.softc.host_name
        ip("link", "set", host_if, "netns", ns)  # our fd stays attached to it
        in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{host_if}.disable_ipv6=1")
        ip("-n", ns, "addr", "add", f"{HOST_IP}/24", "dev", host_if)
        ip("-n", ns, "link", "set", host_if, "up")
        serve = start_serve_in(ns, tmp_path / "crash")
        data = random.Random(4).randbytes(700_000)
        transport = TransportConfig(mtu=ifp.mtu)
        stack = InetStack(
            StackConfig.for_transport(
                transport,
                lladdr=ifp.lladdr,
                client=OUR_IP,
                server=HOST_IP,
                gateway=None,
                mtu=ifp.mtu,
            )
        )
        options = DumpOptions(HostInfo.detect(), "over tap", 1_700_000_000)
        dump = NetdumpClient(DumpProducer(io.BytesIO(data), len(data), options), transport)
        with RawShell(ifp, stack) as shell:
            shell.run(dump)
        assert dump.done and ifp.input_hook is None and not ifp.softc.diverted
        core, info = serve.last(str(OUR_IP))
        assert core.read_bytes() == data and "Dump complete" in info.read_text()
        assert not stack.stats.drops.get(Drop.UDP_CHECKSUM)
    finally:
        if serve is not None:
            serve.stop()
        tap.close(ifp)
        ip("netns", "del", ns, check=False)
