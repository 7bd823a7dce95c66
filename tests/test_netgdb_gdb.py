"""The real gdb through ``netgdb-proxy`` and ``netgdb-target`` over loopback, clean and impaired."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from debugnet.netgdb.packet import frame
from debugnet.netgdb.stub import StubState
from tests.netgdbutil import Pair, gdb, netgdb_pair

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed (.ci/run does)"),
]

BASE = 0xFFFFFFFF80200000
SIZE = 64 << 10
IMAGE = random.Random(2515).randbytes(SIZE)
ARRAY = 1500  # bytes gdb reads in one request: its reply spans several messages
REGS = {"rip": 0xFFFFFFFF80212345, "rsp": 0xFFFFFE0012345678, "rax": 0x1122334455667788}


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "mem.bin"
    path.write_bytes(IMAGE)
    return path


@pytest.fixture
def registers(tmp_path: Path) -> Path:
    path = tmp_path / "regs.txt"
    path.write_text("# test registers\n" + "".join(f"{k} {v:#x}\n" for k, v in REGS.items()))
    return path


def x_lines(addr: int, count: int) -> list[str]:
    """gdb's x/Nxb output for the image's bytes at ``addr``."""
    data = IMAGE[addr - BASE : addr - BASE + count]
    return [
        f"{addr + i:#x}:\t" + "\t".join(f"{b:#04x}" for b in data[i : i + 8])
        for i in range(0, count, 8)
    ]


def check_reads(out: str, reads: list[tuple[int, int]]) -> None:
    for addr, count in reads:
        for line in x_lines(addr, count):
            assert line in out, f"missing {line!r} in:\n{out}"


def session(pair: Pair, image: Path, tmp_path: Path, count: int = 64) -> None:
    """The everyday session: reads, registers, a write read back, a dump, detach.

    gdb's ``x/Nxb`` asks for one byte per packet; the dump asks for as much as
    the PacketSize allows, so its replies span several MTU-sized messages.
    """
    dump = tmp_path / "dump.bin"
    target_addr = BASE + 0x3000
    reads = [(BASE, count), (BASE + 0x1FF8, count), (BASE + SIZE - count, count)]
    out = gdb(
        pair.gdb_address,
        *(f"x/{n}xb {a:#x}" for a, n in reads),
        "set print elements unlimited",
        "set print repeats unlimited",
        f"p/x *(unsigned char (*)[{ARRAY}]){BASE + 0x6000:#x}",  # one read, a long reply
        "info registers",
        f"set {{int}}{target_addr:#x} = 0x41424344",
        f"x/8xb {target_addr:#x}",
        f"dump binary memory {dump} {BASE + 0x8000:#x} {BASE + 0x8000 + 12288:#x}",
        "detach",
    )
    check_reads(out, reads)
    array = ", ".join(f"{b:#x}" for b in IMAGE[0x6000 : 0x6000 + ARRAY])
    assert "= {" + array + "}" in out, out
    for name, value in REGS.items():
        assert re.search(rf"^{name}\s+{value:#x}\s", out, re.M), out
    written = bytes.fromhex("44434241") + IMAGE[0x3004:0x3008]
    assert f"{target_addr:#x}:\t" + "\t".join(f"{b:#04x}" for b in written) in out, out
    assert dump.read_bytes() == IMAGE[0x8000 : 0x8000 + 12288]
    assert "detached" in out, out
    assert image.read_bytes() == IMAGE  # writes land in the target's copy only
    pair.wait_target()
    assert pair.target_errors == []
    assert pair.target.end_reason == "proxy FINISHED"
    (line,) = pair.wait_sessions_ended()
    assert "ended: gdb disconnected" in line


def test_gdb_session_through_proxy_and_target(image: Path, registers: Path, tmp_path: Path) -> None:
    with netgdb_pair(f"{image}@{BASE:#x}", registers=registers) as pair:
        session(pair, image, tmp_path)
        assert pair.proxy.finished[0].count("(0 retransmissions)") == 1


def test_gdb_session_at_small_mtu(image: Path, registers: Path, tmp_path: Path) -> None:
    with netgdb_pair(f"{image}@{BASE:#x}", registers=registers, mtu=576) as pair:
        session(pair, image, tmp_path)


def test_gdb_session_under_loss_reordering_and_duplication(
    image: Path, registers: Path, tmp_path: Path
) -> None:
    impair = {"loss": 0.1, "reorder": 0.1, "duplicate": 0.1, "seed": 12}
    with netgdb_pair(f"{image}@{BASE:#x}", registers=registers, impair=impair) as pair:
        session(pair, image, tmp_path, count=16)  # each lost request costs a 1 s timeout
        assert pair.relay is not None
        stats = pair.relay.stats
        assert stats["lost"] and stats["reordered"] and stats["duplicated"], stats
        line = pair.proxy.finished[0]
        assert not re.search(r"\(0 duplicates", line), line


def test_ctrl_c_interrupts_a_running_target(image: Path) -> None:
    with netgdb_pair(f"{image}@{BASE:#x}", run_time=120.0) as pair:
        args = ["gdb", "-nx", "-batch", "-ex", "set remotetimeout 60"]
        args += ["-ex", f"target remote {pair.gdb_address}"]
        args += ["-ex", "continue", "-ex", f"x/8xb {BASE:#x}", "-ex", "detach"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            end = time.monotonic() + 60
            while pair.target.stub.state is not StubState.RUNNING and time.monotonic() < end:
                time.sleep(0.02)
            assert pair.target.stub.state is StubState.RUNNING
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "SIGINT" in out, out
        check_reads(out, [(BASE, 8)])
        assert pair.target.stub.stats.interrupts == 1


def test_target_finished_closes_gdbs_connection(image: Path) -> None:
    """The kernel's FINISHED (here after 'k') reaches gdb as the TCP connection closing."""
    with netgdb_pair(f"{image}@{BASE:#x}") as pair:
        host, port = pair.gdb_address.split(":")
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            got = b""
            while b"#" not in got:
                got += conn.recv(4096)
            assert got.startswith(b"$T05")  # the initial stop reply, held for us
            conn.sendall(b"+" + frame(b"k"))
            while chunk := conn.recv(4096):
                got += chunk
        pair.wait_target()
        assert pair.target.end_reason == "target FINISHED"
        (line,) = pair.wait_sessions_ended()
        assert "ended: kernel sent FINISHED" in line


def test_gdb_kill_ends_the_session(image: Path) -> None:
    with netgdb_pair(f"{image}@{BASE:#x}") as pair:
        out = gdb(pair.gdb_address, "kill")
        assert "killed" in out, out
        pair.wait_target()
        assert pair.target_errors == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_cli_commands_end_to_end(image: Path) -> None:
    """The issue's own check: gdb -batch -ex 'target remote ...' -ex 'x/16xb ADDR'."""
    from tests.netgdbutil import NETGDB_PORTS
    from tests.netutil import free_loopback

    proxy_ip = free_loopback(NETGDB_PORTS)
    target_ip = free_loopback(NETGDB_PORTS, avoid={proxy_ip})
    gdb_port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "debugnet"]
    proxy = subprocess.Popen(
        [*cmd, "netgdb-proxy", "--bind", proxy_ip, "--gdb-bind", proxy_ip,
         "--gdb-port", str(gdb_port), "--allow", "127.0.0.0/8"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    target = None
    try:
        assert proxy.stderr is not None
        assert "netgdb proxy: heralds on" in proxy.stderr.readline()
        target = subprocess.Popen(
            [*cmd, "netgdb-target", "-s", proxy_ip, "-c", target_ip, "--image",
             f"{image}@{BASE:#x}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        line = proxy.stderr.readline()
        assert f"gdb: target remote {proxy_ip}:{gdb_port}" in line, line
        out = gdb(f"{proxy_ip}:{gdb_port}", f"x/16xb {BASE + 0x100:#x}")
        check_reads(out, [(BASE + 0x100, 16)])
        tout, _ = target.communicate(timeout=30)
        assert "session ended (proxy FINISHED)" in tout, tout
    finally:
        for p in (target, proxy):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    assert proxy.stderr is not None
    rest = proxy.stderr.read()
    assert "ended: gdb disconnected" in rest, rest


def test_gdb_reads_an_elf_cores_segments(tmp_path: Path) -> None:
    from tests.test_netgdb_units import _elf_core

    core = tmp_path / "vmcore"
    low, high = IMAGE[:4096], IMAGE[4096:6144]
    core.write_bytes(_elf_core([(BASE, low, 4096), (BASE + 0x100000, high, 8192)]))
    with netgdb_pair(str(core)) as pair:
        out = gdb(
            pair.gdb_address,
            f"x/8xb {BASE + 8:#x}",
            f"x/8xb {BASE + 0x100000:#x}",
            f"x/8xb {BASE + 0x100000 + 2044:#x}",  # file bytes end at 2048, memsz goes on
            f"x/8xb {BASE + 0x80000:#x}",  # between segments: unmapped
        )
    check_reads(out, [(BASE + 8, 8)])
    assert f"{BASE + 0x100000:#x}:\t" + "\t".join(f"{b:#04x}" for b in high[:8]) in out, out
    tail = [*high[2044:2048], 0, 0, 0, 0]
    assert f"{BASE + 0x1007FC:#x}:\t" + "\t".join(f"{b:#04x}" for b in tail) in out, out
    assert f"Cannot access memory at address {BASE + 0x80000:#x}" in out, out
