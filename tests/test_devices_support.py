"""Network-namespace scaffolding for the real-interface device tests (no tests here).

Each fixture makes names unique to the run, uses only 198.51.100.0/24 inside
its namespace, and deletes everything it made even when the test fails.
"""

from __future__ import annotations

import os
import random
import select
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest

from debugnet.ifnet import Ifnet

HOST_IP = IPv4Address("198.51.100.1")
OUR_IP = IPv4Address("198.51.100.2")
BROADCAST = b"\xff" * 6


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], check=True, capture_output=True, text=True
    )


def unique_tag() -> str:
    return f"{os.getpid() % 1000:03d}{random.randrange(10000):04d}"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and raw sockets")


@dataclass(frozen=True)
class NetNs:
    name: str
    host_if: str
    """The interface inside the namespace, where the Linux stack answers."""
    host_mac: bytes


def make_namespace(tag: str) -> str:
    ns = f"dnt{tag}"
    ip("netns", "add", ns)
    try:
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
    except BaseException:
        ip("netns", "del", ns, check=False)
        raise
    return ns


def configure_inside(ns: str, ifname: str) -> bytes:
    in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1")
    ip("-n", ns, "addr", "add", f"{HOST_IP}/24", "dev", ifname)
    ip("-n", ns, "link", "set", ifname, "up")
    out = ip("-n", ns, "-o", "link", "show", ifname).stdout
    mac = out.split("link/ether ")[1].split()[0]
    return bytes.fromhex(mac.replace(":", ""))


@pytest.fixture
def veth() -> Iterator[tuple[str, NetNs]]:
    """(our end in this namespace, the namespace holding the other end at 198.51.100.1)."""
    require_root()
    tag = unique_tag()
    ours, peer = f"dnq{tag}", f"dnp{tag}"
    ns = make_namespace(tag)
    try:
        ip("link", "add", ours, "type", "veth", "peer", "name", peer)
        with open(f"/proc/sys/net/ipv6/conf/{ours}/disable_ipv6", "w") as f:
            f.write("1")
        ip("link", "set", peer, "netns", ns)
        mac = configure_inside(ns, peer)
        ip("link", "set", ours, "up")
        yield ours, NetNs(ns, peer, mac)
    finally:
        ip("link", "del", ours, check=False)
        ip("netns", "del", ns, check=False)


@pytest.fixture
def namespace() -> Iterator[str]:
    require_root()
    ns = make_namespace(unique_tag())
    try:
        yield ns
    finally:
        ip("netns", "del", ns, check=False)


def arp_request(src_mac: bytes, spa: IPv4Address, tpa: IPv4Address) -> bytes:
    body = struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src_mac, spa.packed, bytes(6), tpa.packed
    )
    return BROADCAST + src_mac + b"\x08\x06" + body


def is_arp(frame: bytes, op: int, spa: IPv4Address, tpa: IPv4Address) -> bool:
    return (
        len(frame) >= 42
        and frame[12:14] == b"\x08\x06"
        and int.from_bytes(frame[20:22], "big") == op
        and frame[28:32] == spa.packed
        and frame[38:42] == tpa.packed
    )


def send_udp_from(ns: str, dst: IPv4Address) -> None:
    """Make the namespace's stack emit a frame towards ``dst`` (an ARP request first)."""
    code = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.sendto(b'hello', ('{dst}', 9))"
    )
    in_ns(ns, sys.executable, "-c", code)


def wait_for(
    ifp: Ifnet,
    fd: int,
    poll: Callable[[Ifnet, int], int],
    match: Callable[[bytes], bool],
    timeout: float = 3.0,
) -> tuple[bytes | None, list[bytes]]:
    """Poll real I/O until a received frame matches; (the match, every frame seen)."""
    seen: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        select.select([fd], [], [], 0.05)
        poll(ifp, 64)
        while (frame := ifp.dequeue_input()) is not None:
            seen.append(frame)
            if match(frame):
                return frame, seen
    return None, seen
