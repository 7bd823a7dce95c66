"""Throwaway namespaces for the raw path with the Linux kernel as ARP, IP and routing peer.

``client`` holds the veth our stack sends on (with or without a host
address), ``server`` runs ``debugnet serve``, and with ``routed`` a third
namespace forwards between 198.51.100.0/24 (client side) and
203.0.113.0/24 (server side). Everything made here is deleted afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.procs import stop_process
from tests.test_devices_support import in_ns, ip, make_namespace, require_root, unique_tag

DEBUGNET = [sys.executable, "-m", "debugnet"]
CLIENT_IP = "198.51.100.2"
NEAR_IP = "198.51.100.1"
"""The server (direct) or the router's client-side address (routed)."""
FAR_SERVER_IP = "203.0.113.1"
ROUTER_FAR_IP = "203.0.113.254"


@dataclass
class RawNs:
    client_ns: str
    client_if: str
    server_ns: str
    server_ip: str
    router_ns: str | None = None
    made: list[str] = field(default_factory=list)

    def exec_client(self, *argv: str) -> list[str]:
        """The command line running ``debugnet *argv`` in the client namespace."""
        return ["ip", "netns", "exec", self.client_ns, *DEBUGNET, *argv]

    def client(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.exec_client(*argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def give_client_address(self, default_via: str | None = None) -> None:
        ip("-n", self.client_ns, "addr", "add", f"{CLIENT_IP}/24", "dev", self.client_if)
        if default_via is not None:
            ip("-n", self.client_ns, "route", "add", "default", "via", default_via)

    def nft(self, ns: str, ruleset: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ruleset, text=True, check=True
        )


def _veth(a: str, a_ns: str, b: str, b_ns: str) -> None:
    ip("link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns)
    for name, ns in ((a, a_ns), (b, b_ns)):
        in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1")
        ip("-n", ns, "link", "set", name, "up")
        ip("-n", ns, "link", "set", "lo", "up")


@contextmanager
def raw_namespaces(routed: bool = False) -> Iterator[RawNs]:
    require_root()
    tag = unique_tag()
    made: list[str] = []
    try:
        cns = make_namespace(f"c{tag}")
        made.append(cns)
        sns = make_namespace(f"s{tag}")
        made.append(sns)
        if not routed:
            _veth(f"dnc{tag}", cns, f"dns{tag}", sns)
            ip("-n", sns, "addr", "add", f"{NEAR_IP}/24", "dev", f"dns{tag}")
            yield RawNs(cns, f"dnc{tag}", sns, NEAR_IP, None, made)
            return
        rns = make_namespace(f"r{tag}")
        made.append(rns)
        _veth(f"dnc{tag}", cns, f"dra{tag}", rns)
        _veth(f"drb{tag}", rns, f"dns{tag}", sns)
        ip("-n", rns, "addr", "add", f"{NEAR_IP}/24", "dev", f"dra{tag}")
        ip("-n", rns, "addr", "add", f"{ROUTER_FAR_IP}/24", "dev", f"drb{tag}")
        in_ns(rns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ip("-n", sns, "addr", "add", f"{FAR_SERVER_IP}/24", "dev", f"dns{tag}")
        ip("-n", sns, "route", "add", "default", "via", ROUTER_FAR_IP)
        yield RawNs(cns, f"dnc{tag}", sns, FAR_SERVER_IP, rns, made)
    finally:
        for ns in made:
            ip("netns", "del", ns, check=False)


@dataclass
class NsServe:
    proc: subprocess.Popen[bytes]
    dumpdir: Path

    def last(self, client: str = CLIENT_IP) -> tuple[Path, Path]:
        core = (self.dumpdir / f"vmcore.{client}.last").resolve()
        info = (self.dumpdir / f"info.{client}.last").resolve()
        return core, info

    def stop(self) -> None:
        stop_process(self.proc)


def start_serve_in(ns: str, dumpdir: Path) -> NsServe:
    """``debugnet serve`` on all of ``ns``'s addresses; waits for it to listen (a process start)."""
    dumpdir.mkdir(parents=True, exist_ok=True)
    log = dumpdir.parent / f"{dumpdir.name}.log"
    with open(log, "wb") as out:
        argv = ["ip", "netns", "exec", ns, *DEBUGNET, "serve", "--bind", "0.0.0.0"]
        argv += ["--dir", str(dumpdir), "--no-resolve"]
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if b"listening" in log.read_bytes():
            return NsServe(proc, dumpdir)
        time.sleep(0.05)  # waiting for a process to start, not for a protocol timer
    proc.kill()
    proc.wait()
    pytest.fail(f"debugnet serve did not start: {log.read_bytes()!r}")
