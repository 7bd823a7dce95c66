"""Drivers on real Linux interfaces, inside throwaway network namespaces (root)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from debugnet.devices import packet, tap
from debugnet.devices.hostimport import import_host, read_host_interface
from debugnet.devices.pcap import PcapWriter, capture, read_pcap
from debugnet.errors import InvalidArgument, NoDevice, PermissionDenied
from debugnet.ifnet import IfFlags, Ifnet, IfTable, LinkState
from debugnet.ifnet.ioctl import promisc, set_flags
from tests.test_devices_support import (
    HOST_IP,
    OUR_IP,
    NetNs,
    arp_request,
    configure_inside,
    ip,
    is_arp,
    namespace,
    require_root,
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


@pytest.mark.parametrize("reader", ["scapy", "tcpdump", "tshark"])
def test_linux_answers_our_arp_request_and_ours_is_not_looped_back(
    veth: tuple[str, NetNs], tmp_path: Path, reader: str
) -> None:
    """The exchange, captured by our pcap writer and read back by an independent reader."""
    if reader != "scapy" and shutil.which(reader) is None:
        pytest.skip(f"{reader} is not installed (.ci/run installs it)")
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
    _read_back(reader, pcap_path, frames)


def _read_back(reader: str, path: Path, frames: list[bytes]) -> None:
    if reader == "scapy":
        from scapy.utils import rdpcap

        assert [bytes(p) for p in rdpcap(str(path))] == frames
        return
    if reader == "tcpdump":
        out = subprocess.run(
            ["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert len(out.strip().splitlines()) == len(frames)
        assert f"Request who-has {HOST_IP} tell {OUR_IP}" in out
        assert f"Reply {HOST_IP} is-at" in out
        return
    # tshark: one summary line per frame, its ARP info column in Wireshark's words.
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert len(out.strip().splitlines()) == len(frames)
    assert f"Who has {HOST_IP}? Tell {OUR_IP}" in out
    assert f"{HOST_IP} is at" in out


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
        promisc(ifp, True)
        assert host_promisc()
        promisc(ifp, False)
        assert not host_promisc()
    finally:
        packet.close(ifp)


def test_closed_packet_device_refuses_to_send(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    table = IfTable()
    ifp = packet.attach_packet(table, ours)
    try:
        set_flags(ifp, ifp.flags & ~IfFlags.UP, 0.0)  # stop closes the socket
        assert ifp.softc.sock is None and ifp.tx_direct is None
        set_flags(ifp, ifp.flags | IfFlags.UP, 0.0)  # init reopens it
        ifp.transmit(arp_request(ifp.lladdr, OUR_IP, HOST_IP))
        assert ifp.stats.opackets == 1
        table.detach(ifp)
        with pytest.raises(NoDevice):
            ifp.transmit(arp_request(ifp.lladdr, OUR_IP, HOST_IP))
    finally:
        packet.close(ifp)


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


@contextmanager
def _attached(ours: str, table: IfTable | None = None, name: str | None = None) -> Iterator[Ifnet]:
    """A packet interface on ``ours`` whose socket is closed however the test ends."""
    ifp = packet.attach_packet(table if table is not None else IfTable(), ours, name=name)
    try:
        yield ifp
    finally:
        packet.close(ifp)


def _host_promisc(name: str) -> bool:
    """The device's own flags (sysfs) include a packet-socket membership."""
    return bool(int(Path(f"/sys/class/net/{name}/flags").read_text(), 16) & 0x100)


def _promiscuity(name: str) -> int:
    out = ip("-d", "link", "show", name).stdout
    return int(out.split("promiscuity ")[1].split()[0])


def test_promiscuous_mode_asked_while_down_applies_when_up(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    ip("link", "set", ours, "down")
    with _attached(ours) as ifp:  # down: no socket yet
        promisc(ifp, True)
        assert not _host_promisc(ours)
        set_flags(ifp, ifp.flags | IfFlags.UP, 0.0)  # init consults IFF_PROMISC
        assert _host_promisc(ours) and ifp.softc.promisc


def test_promiscuous_mode_survives_down_and_up(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    with _attached(ours) as ifp:
        promisc(ifp, True)
        assert _host_promisc(ours)
        set_flags(ifp, ifp.flags & ~IfFlags.UP, 0.0)
        assert not ifp.softc.promisc and not _host_promisc(ours)
        set_flags(ifp, ifp.flags | IfFlags.UP, 0.0)
        assert ifp.pcount == 1 and ifp.flags & IfFlags.PROMISC
        assert _host_promisc(ours)
        promisc(ifp, False)
        assert not _host_promisc(ours)


def test_the_hosts_own_promiscuity_is_not_imported(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    ip("link", "set", ours, "promisc", "on")  # someone else's tcpdump, say
    with _attached(ours) as ifp:
        assert not ifp.flags & (IfFlags.PROMISC | IfFlags.ALLMULTI | IfFlags.OACTIVE)
        assert ifp.pcount == 0 and not ifp.softc.promisc
        ip("link", "set", ours, "promisc", "off")
        assert _promiscuity(ours) == 0  # no membership of ours holds it
        promisc(ifp, True)
        assert _promiscuity(ours) == 1


def test_a_packet_socket_refused_leaves_nothing_attached(
    veth: tuple[str, NetNs], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, _ = veth

    def refuse(sc: packet.PacketSoftc) -> socket.socket:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(packet, "_open", refuse)
    table = IfTable()
    with pytest.raises(PermissionDenied):
        packet.attach_packet(table, ours)
    assert len(table) == 0


def test_a_failing_bind_closes_the_socket() -> None:
    require_root()
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError) as info:
        packet._open(packet.PacketSoftc("dnnosuch0", 0))
    # The traceback keeps _open's frame, and so its socket object, alive:
    # only an explicit close gives the descriptor back.
    assert info.traceback and sorted(os.listdir("/proc/self/fd")) == before


def test_packet_device_names_are_checked(veth: tuple[str, NetNs]) -> None:
    ours, _ = veth
    table = IfTable()
    with pytest.raises(InvalidArgument):
        packet.attach_packet(table, ours, name="a-name-far-too-long")
    assert len(table) == 0
    with _attached(ours, table, name="pk0") as ifp:
        assert table.byname("pk0") is ifp


def test_a_tap_with_a_bad_name_leaks_neither_fd_nor_host_device(namespace: str) -> None:
    host_name = f"dnt{unique_tag()}y"
    before = sorted(os.listdir("/proc/self/fd"))
    try:
        with pytest.raises(InvalidArgument):
            tap.attach_tap(IfTable(), host_name, bytes.fromhex("0200c0ffee01"), name="x" * 16)
        assert sorted(os.listdir("/proc/self/fd")) == before
        assert ip("link", "show", host_name, check=False).returncode != 0
    finally:
        ip("link", "del", host_name, check=False)


def test_ifconfig_shows_linux_setups_the_model_cannot_hold(namespace: str) -> None:
    """A peer without POINTOPOINT, one address with two prefixes, an index above
    65535 and an all-digit name: shown or skipped with a warning, never exit 1."""
    setup = [
        ("link", "add", "d0", "index", "70000", "type", "veth", "peer", "name", "7"),
        ("addr", "add", "198.51.100.1", "peer", "198.51.100.2", "dev", "7"),
        ("addr", "add", "198.51.100.3/24", "dev", "7"),
        ("addr", "add", "198.51.100.3/25", "dev", "7"),
    ]
    for args in setup:
        ip("-n", namespace, *args)
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "debugnet", "ifconfig", "-a"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\n7: flags=" in "\n" + proc.stdout and "d0: " not in proc.stdout
    assert "\tinet 198.51.100.3 netmask 0xffffff00" in proc.stdout
    assert "d0 (index 70000) not imported" in proc.stderr
    one = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "debugnet", "ifconfig", "7"],
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0 and one.stdout.startswith("7: flags="), one.stderr
