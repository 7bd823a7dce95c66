"""Our client against the C floor server, and failures only a real stack can give."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from debugnet.netdump import source as source_mod
from debugnet.netdump.send import send_dump
from debugnet.transport.config import Mode
from tests.floorutil import build_floor
from tests.netutil import free_loopback


@pytest.fixture(scope="module")
def floor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("floor")
    binary = build_floor("floor_server", base)
    ip = free_loopback()
    dumps = base / "dumps"
    dumps.mkdir()
    log = base / "log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(binary), "-d", str(dumps), "-a", ip], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 10
        while b"listening" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"floor_server did not start: {log.read_bytes()!r}")
            time.sleep(0.05)  # waiting for a process to start, not a protocol timer
        yield ip, dumps
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("mode", [Mode.WINDOW, Mode.SEED])
def test_byte_exact_at_the_c_floor_server(floor_server: tuple[str, Path], mode: Mode) -> None:
    ip, dumps = floor_server
    data = os.urandom(2_000_000)
    result = send_dump(ip, data, client=ip, mode=mode)
    assert result.bytes_sent == len(data)
    core = dumps / f"vmcore.{ip}.0"
    assert core.read_bytes() == data
    core.unlink()


def test_block_device_size_by_seeking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A block device reports st_size 0; its size comes from seeking to the end.
    image = tmp_path / "disk"
    image.write_bytes(b"\x01" * 12345)
    real_fstat = os.fstat

    def fake_fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        fields = list(st)
        fields[stat.ST_MODE] = stat.S_IFBLK | 0o600
        fields[stat.ST_SIZE] = 0
        return os.stat_result(fields)

    monkeypatch.setattr(source_mod.os, "fstat", fake_fstat)
    with source_mod.open_source(str(image)) as src:
        assert src.size == 12345
        assert src.stream.read() == b"\x01" * 12345


@pytest.fixture
def empty_netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make a network namespace")
    name = f"dnsend-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_unreachable_server_is_one_line(empty_netns: str) -> None:
    # The namespace has only a loopback: 192.0.2.1 has no route, nothing leaves.
    base = ["ip", "netns", "exec", empty_netns, sys.executable, "-m", "debugnet", "send"]
    for extra in ([], ["-c", "127.0.0.1"]):
        res = subprocess.run(
            [*base, "-s", "192.0.2.1", *extra, "/dev/null"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert res.returncode == 1
        assert res.stderr.count("\n") == 1
        assert "192.0.2.1" in res.stderr and ("unreachable" in res.stderr or "route" in res.stderr)
