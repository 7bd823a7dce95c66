"""The raw path in virtual time: the client's stack on an in-memory wire, scapy as its peers.

A ``PeerHost`` is an Ethernet host built on scapy (an independent
implementation of Ethernet, ARP, IPv4 and UDP): it answers ARP for its own
addresses, ARPs for a destination before sending to it (so the client's
responder is exercised), routes between its ports when it has several (a
router), and hands UDP for itself to a ``SimServer`` (netdumpd in
miniature, with real ServerSessions). The client runs a ``RawShell`` whose
clock is the simulator's and whose wait runs the simulation.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from debugnet.devices.memwire import MemWire, WirePort
from debugnet.ifnet import Ifnet, IfTable
from debugnet.ifnet.rxinfo import RxInfo
from debugnet.inet.config import StackConfig
from debugnet.inet.rawshell import RawShell
from debugnet.inet.stack import InetStack
from debugnet.netdump.client import NetdumpClient
from debugnet.netdump.dump import DumpOptions, DumpProducer
from debugnet.netdump.host import HostInfo
from debugnet.sim import LinkConfig, Simulator
from debugnet.transport.config import TransportConfig
from tests.simnet import SimServer, frame, unframe

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
ROUTER_MAC_A = bytes.fromhex("0200000000a1")
ROUTER_MAC_B = bytes.fromhex("0200000000b1")
CLIENT_IP = IPv4Address("192.0.2.10")
SERVER_IP = IPv4Address("192.0.2.1")
ROUTER_IP_A = IPv4Address("192.0.2.254")
ROUTER_IP_B = IPv4Address("203.0.113.254")
FAR_SERVER_IP = IPv4Address("203.0.113.1")
HOST = HostInfo.of("crashbox", "FreeBSD 14.1-RELEASE GENERIC\n", "amd64")


def mac_str(mac: bytes) -> str:
    return mac.hex(":")


@dataclass
class PeerPort:
    ifp: Ifnet
    ip: IPv4Address
    net: IPv4Network


@dataclass
class PeerHost:
    """A scapy-built host (or router, with two ports) on in-memory wires."""

    ports: list[PeerPort]
    server: SimServer | None = None
    gateway: IPv4Address | None = None
    """Where to send what is not on a connected network."""
    neighbours: dict[IPv4Address, bytes] = field(default_factory=dict)
    pending: dict[IPv4Address, list[bytes]] = field(default_factory=dict)
    arp_requests_seen: list[ARP] = field(default_factory=list)
    arp_replies_seen: list[ARP] = field(default_factory=list)
    frames_in: int = 0
    largest_in: int = 0
    bad_checksums: int = 0
    learn_from_requests: bool = True
    """False: a request for us teaches nothing; the host must ARP the client itself."""

    def attach(self) -> None:
        for port in self.ports:
            port.ifp.input_hook = self._input

    # -- input ---------------------------------------------------------------------

    def _input(self, ifp: Ifnet, data: bytes, rx: RxInfo) -> None:
        self.frames_in += 1
        self.largest_in = max(self.largest_in, len(data))
        port = next(p for p in self.ports if p.ifp is ifp)
        pkt = Ether(data)
        if ARP in pkt:
            self._arp(port, pkt[ARP])
        elif IP in pkt and pkt[Ether].dst == mac_str(ifp.lladdr):
            self._ip(port, pkt[IP])

    def _arp(self, port: PeerPort, arp: ARP) -> None:
        sender = IPv4Address(arp.psrc)
        if arp.op == 1:
            self.arp_requests_seen.append(arp)
            if IPv4Address(arp.pdst) != port.ip:
                return
            if self.learn_from_requests:
                self.neighbours[sender] = bytes.fromhex(arp.hwsrc.replace(":", ""))
            reply = Ether(dst=arp.hwsrc, src=mac_str(port.ifp.lladdr)) / ARP(
                op=2,
                hwsrc=mac_str(port.ifp.lladdr),
                psrc=str(port.ip),
                hwdst=arp.hwsrc,
                pdst=arp.psrc,
            )
            port.ifp.transmit(bytes(reply))
        elif arp.op == 2 and IPv4Address(arp.pdst) == port.ip:
            self.arp_replies_seen.append(arp)
            self.neighbours[sender] = bytes.fromhex(arp.hwsrc.replace(":", ""))
            for queued in self.pending.pop(sender, []):
                self._send_ip(queued)

    def _ip(self, port: PeerPort, ip: IP) -> None:
        if not checksums_ok(ip):
            self.bad_checksums += 1
            return
        dst = IPv4Address(ip.dst)
        if any(p.ip == dst for p in self.ports):
            if self.server is not None and UDP in ip:
                u = ip[UDP]
                self.server.deliver(frame(u.sport, u.dport, bytes(u.payload)))
            return
        if ip.ttl <= 1:
            return
        ip.ttl -= 1
        del ip.chksum
        self._send_ip(bytes(ip))

    # -- output --------------------------------------------------------------------

    def send_udp(
        self, src: IPv4Address, dst: IPv4Address, sport: int, dport: int, data: bytes
    ) -> None:
        self._send_ip(bytes(IP(src=str(src), dst=str(dst)) / UDP(sport=sport, dport=dport) / data))

    def _send_ip(self, packet: bytes) -> None:
        dst = IPv4Address(IP(packet).dst)
        port = next((p for p in self.ports if dst in p.net), None)
        hop = dst
        if port is None:
            assert self.gateway is not None
            hop = self.gateway
            port = next(p for p in self.ports if hop in p.net)
        mac = self.neighbours.get(hop)
        if mac is None:
            first = hop not in self.pending
            self.pending.setdefault(hop, []).append(packet)
            if first:
                req = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_str(port.ifp.lladdr)) / ARP(
                    op=1, hwsrc=mac_str(port.ifp.lladdr), psrc=str(port.ip), pdst=str(hop)
                )
                port.ifp.transmit(bytes(req))
            return
        out = bytes(Ether(dst=mac_str(mac), src=mac_str(port.ifp.lladdr)) / IP(packet))
        port.ifp.transmit(out.ljust(60, b"\0"))  # a NIC pads short frames: acks arrive padded


def checksums_ok(ip: IP) -> bool:
    """What a real host's stack checks: scapy recomputes both checksums to compare."""
    fresh = IP(bytes(ip))
    del fresh.chksum
    if UDP in fresh:
        if fresh[UDP].chksum == 0:
            return False  # ours always sends one
        del fresh[UDP].chksum
    again = IP(bytes(fresh))
    if again.chksum != ip.chksum:
        return False
    return UDP not in ip or again[UDP].chksum == ip[UDP].chksum


class ServerOut:
    """What SimServer sends (a simnet frame) leaves ``host`` as a real UDP datagram."""

    def __init__(self, host: PeerHost, src: IPv4Address, client: IPv4Address) -> None:
        self.host = host
        self.src = src
        self.client = client

    def send(self, data: bytes) -> None:
        parts = unframe(data)
        assert parts is not None
        sport, dport, payload = parts
        self.host.send_udp(self.src, self.client, sport, dport, payload)


@dataclass
class RawNet:
    sim: Simulator
    table: IfTable
    client_ifp: Ifnet
    server: SimServer
    server_host: PeerHost
    router: PeerHost | None
    wires: list[MemWire]

    def wait(self, timeout: float) -> None:
        """The shell's wait in virtual time: run the wire until a frame waits or time is up."""
        sim = self.sim
        target = sim.now + timeout
        port: WirePort = self.client_ifp.softc
        while (nxt := sim.next_time()) is not None and nxt <= target:
            sim.step()
            if port.ring.frames:
                return
        sim.run(until=target)

    def shell(self, config: StackConfig) -> RawShell:
        return RawShell(
            self.client_ifp, InetStack(config), clock=lambda: self.sim.now, wait=self.wait
        )


def build(
    link: LinkConfig | None = None, *, seed: int = 0, routed: bool = False, mtu: int = 1500
) -> RawNet:
    """The client and a server on one wire, or with ``routed`` a router between two wires."""
    sim = Simulator()
    table = IfTable()
    server = SimServer(sim)
    wire = MemWire(sim, link, seed=seed, name="lan")
    client_ifp = wire.attach(table, "dn0", CLIENT_MAC, mtu=mtu)
    lan = IPv4Network("192.0.2.0/24")
    if not routed:
        sifp = wire.attach(table, "srv0", SERVER_MAC)
        host = PeerHost([PeerPort(sifp, SERVER_IP, lan)], server)
        server.out = ServerOut(host, SERVER_IP, CLIENT_IP)  # type: ignore[assignment]
        host.attach()
        table.drain_link_states()
        return RawNet(sim, table, client_ifp, server, host, None, [wire])
    far = MemWire(sim, link, seed=seed + 1, name="far")
    ra = wire.attach(table, "rt0", ROUTER_MAC_A)
    rb = far.attach(table, "rt1", ROUTER_MAC_B)
    sifp = far.attach(table, "srv0", SERVER_MAC)
    router = PeerHost(
        [PeerPort(ra, ROUTER_IP_A, lan), PeerPort(rb, ROUTER_IP_B, IPv4Network("203.0.113.0/24"))]
    )
    host = PeerHost(
        [PeerPort(sifp, FAR_SERVER_IP, IPv4Network("203.0.113.0/24"))], server, ROUTER_IP_B
    )
    server.out = ServerOut(host, FAR_SERVER_IP, CLIENT_IP)  # type: ignore[assignment]
    router.attach()
    host.attach()
    table.drain_link_states()
    return RawNet(sim, table, client_ifp, server, host, router, [wire, far])


def stack_config(
    server: IPv4Address = SERVER_IP,
    gateway: IPv4Address | None = None,
    transport: TransportConfig | None = None,
    mtu: int = 1500,
) -> StackConfig:
    return StackConfig.for_transport(
        transport or TransportConfig(),
        lladdr=CLIENT_MAC,
        client=CLIENT_IP,
        server=server,
        gateway=gateway,
        mtu=mtu,
    )


def dump_client(data: bytes, config: TransportConfig | None = None) -> NetdumpClient:
    options = DumpOptions(host=HOST, panic="raw path test", dumptime=1_700_000_000)
    producer = DumpProducer(io.BytesIO(data), len(data), options)
    return NetdumpClient(producer, config or TransportConfig())


def run_dump(
    net: RawNet,
    data: bytes,
    *,
    server: IPv4Address = SERVER_IP,
    gateway: IPv4Address | None = None,
    transport: TransportConfig | None = None,
    before: Callable[[RawShell], None] | None = None,
) -> tuple[NetdumpClient, RawShell]:
    # The transport's MTU is the interface's, as send_dump sets it for the raw path.
    transport = dataclasses.replace(transport or TransportConfig(), mtu=net.client_ifp.mtu)
    dump = dump_client(data, transport)
    shell = net.shell(stack_config(server, gateway, transport, net.client_ifp.mtu))
    with shell:
        if before is not None:
            before(shell)
        shell.run(dump)
    return dump, shell
