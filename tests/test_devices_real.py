"""Drivers on real Linux interfaces, inside throwaway network namespaces (root)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from debugnet.devices import packet, tap
from debugnet.devices.hostimport import import_host, read_host_interface
from debugnet.devices.pcap import PcapWriter, capture, read_pcap
from debugnet.errors import NoDevice
from debugnet.ifnet import IfFlags, IfTable, LinkState
from tests.test_devices_support import (
    HOST_IP,
    OUR_IP,
    NetNs,
    arp_request,
    configure_inside,
    ip,
    is_arp,
    namespace,
    send_udp_from,
    unique_tag,
    veth,
    wait_for,
)

__all__ = ["namespace", "veth"]  # fixtures

pytestmark = pytest.mark.root


def test_packet_device_mirrors_the_host_interface(veth: tuple[str, NetNs]) -> None:
    ours, _ns = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    try:
        host = read_host_interface(ours)
        assert ifp.lladdr == host.mac and len(ifp.lladdr) == 6
        assert ifp.mtu == host.mtu == 1500
        assert ifp.flags & IfFlags.UP and ifp.flags & IfFlags.BROADCAST
        assert ifp.is_up_and_running
        table.drain_link_states()
        assert ifp.link_state == LinkState.UP
        ip("link", "set", ours, "down")
        assert packet.refresh_link_state(ifp)
        table.drain_link_states()
        assert ifp.link_state == LinkState.DOWN
    finally:
        packet.close(ifp)


def test_packet_device_receives_what_the_linux_stack_sends(veth: tuple[str, NetNs]) -> None:
    ours, ns = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    try:
        send_udp_from(ns.name, OUR_IP)
        got, _ = wait_for(
            ifp, ifp.softc.fileno(), packet.poll, lambda f: is_arp(f, 1, HOST_IP, OUR_IP)
        )
        assert got is not None, "no ARP request from the namespace's stack"
        assert got[6:12] == ns.host_mac and got[:6] == b"\xff" * 6
        assert ifp.stats.ipackets >= 1
    finally:
        packet.close(ifp)


def test_linux_answers_our_arp_request_and_ours_is_not_looped_back(
    veth: tuple[str, NetNs], tmp_path: Path
) -> None:
    ours, ns = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    pcap_path = tmp_path / "arp.pcap"
    writer = PcapWriter(pcap_path)
    capture(ifp, writer, clock=__import__("time").time)
    try:
        request = arp_request(ifp.lladdr, OUR_IP, HOST_IP)
        ifp.transmit(request)
        assert ifp.stats.opackets == 1
        reply, seen = wait_for(
            ifp, ifp.softc.fileno(), packet.poll, lambda f: is_arp(f, 2, HOST_IP, OUR_IP)
        )
        assert reply is not None, "the namespace's stack did not answer"
        assert reply[:6] == ifp.lladdr and reply[22:28] == ns.host_mac
        assert reply[32:38] == ifp.lladdr
        assert request not in seen and all(f[6:12] != ifp.lladdr for f in seen)
    finally:
        writer.close()
        packet.close(ifp)
    frames = [f for _, f in read_pcap(pcap_path)]
    assert frames[0] == request and reply in frames
    _check_pcap_with_tools(pcap_path, frames)


def _check_pcap_with_tools(path: Path, frames: list[bytes]) -> None:
    from scapy.utils import rdpcap

    packets = rdpcap(str(path))
    assert [bytes(p) for p in packets] == frames
    if shutil.which("tcpdump"):
        out = subprocess.run(
            ["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert len(out.strip().splitlines()) == len(frames)
        assert f"Request who-has {HOST_IP} tell {OUR_IP}" in out
        assert f"Reply {HOST_IP} is-at" in out
    if shutil.which("tshark"):
        out = subprocess.run(
            ["tshark", "-r", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert len(out.strip().splitlines()) == len(frames)


def test_packet_device_refuses_unknown_interfaces() -> None:
    with pytest.raises(NoDevice):
        packet.attach_packet(IfTable(), "dnnosuch0")


def test_tap_exchanges_frames_with_the_host(namespace: str) -> None:
    host_name = f"dnt{unique_tag()}x"
    table = IfTable()
    mac = bytes.fromhex("0200c0ffee01")
    ifp = tap.attach_tap(table, host_name, mac)
    try:
        assert ifp.softc.host_name == host_name
        ip("link", "set", host_name, "netns", namespace)
        host_mac = configure_inside(namespace, host_name)
        # We ask, the host answers.
        ifp.transmit(arp_request(mac, OUR_IP, HOST_IP))
        reply, _ = wait_for(
            ifp, ifp.softc.fileno(), tap.poll, lambda f: is_arp(f, 2, HOST_IP, OUR_IP)
        )
        assert reply is not None and reply[:6] == mac and reply[6:12] == host_mac
        # The host sends, we receive: the datagram itself, since our request
        # taught the host our MAC (or an ARP request first, if it forgot).
        send_udp_from(namespace, OUR_IP)
        got, _ = wait_for(
            ifp,
            ifp.softc.fileno(),
            tap.poll,
            lambda f: _to_us(f, mac) or is_arp(f, 1, HOST_IP, OUR_IP),
        )
        assert got is not None and got[6:12] == host_mac
    finally:
        tap.close(ifp)


def _to_us(frame: bytes, mac: bytes) -> bool:
    return frame[:6] == mac and frame[12:14] == b"\x08\x00" and frame[30:34] == OUR_IP.packed


def test_host_import_sees_the_namespace_interfaces(veth: tuple[str, NetNs]) -> None:
    ours, _ns = veth
    table = import_host()
    ifp = table.unit(ours)
    assert ifp is not None
    host = read_host_interface(ours)
    assert ifp.index == host.index and ifp.lladdr == host.mac and ifp.mtu == 1500
    assert ifp.link_state == LinkState.UP
    lo = table.unit("lo")
    assert lo is not None and lo.flags & IfFlags.LOOPBACK
    assert any(str(a.addr) == "127.0.0.1" for a in lo.inet_addrs())


def test_promiscuous_mode_reaches_the_host_interface(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    try:
        # SIOCGIFFLAGS shows only promiscuity asked for by ioctl; the device's
        # own flags (sysfs) show the packet-socket membership too.
        def host_promisc() -> bool:
            return bool(int(Path(f"/sys/class/net/{ours}/flags").read_text(), 16) & 0x100)

        assert not host_promisc()
        ifp.promisc(True)
        assert host_promisc()
        ifp.promisc(False)
        assert not host_promisc()
    finally:
        packet.close(ifp)


def test_closed_packet_device_refuses_to_send(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    ifp.set_flags(ifp.flags & ~IfFlags.UP, 0.0)  # stop closes the socket
    assert ifp.softc.sock is None and ifp.tx_direct is None
    ifp.set_flags(ifp.flags | IfFlags.UP, 0.0)  # init reopens it
    ifp.transmit(arp_request(ifp.lladdr, OUR_IP, HOST_IP))
    assert ifp.stats.opackets == 1
    table.detach(ifp)
    with pytest.raises(NoDevice):
        ifp.transmit(arp_request(ifp.lladdr, OUR_IP, HOST_IP))


def test_debugnet_path_of_the_packet_device(veth: tuple[str, NetNs]) -> None:
    from debugnet.ifnet import DebugnetEvent, debugnet_event, debugnet_poll, debugnet_transmit

    ours, _ = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    try:
        table.drain_link_states()  # link UP: the pool is sized from the driver's figures
        hwm = table.debugnet.hwm
        assert hwm.ncl == packet.RCVBUF // 2048 and hwm.clsize == 2048
        debugnet_event(ifp, DebugnetEvent.START)
        assert ifp.softc.diverted
        debugnet_transmit(ifp, arp_request(ifp.lladdr, OUR_IP, HOST_IP))
        reply, _ = wait_for(
            ifp, ifp.softc.fileno(), debugnet_poll, lambda f: is_arp(f, 2, HOST_IP, OUR_IP)
        )
        assert reply is not None
        debugnet_event(ifp, DebugnetEvent.END)
        assert not ifp.softc.diverted
    finally:
        packet.close(ifp)
