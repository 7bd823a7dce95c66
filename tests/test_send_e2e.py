"""`debugnet send` to `debugnet serve` over 127.0.0.N: byte-exact, both modes, compressed or not."""

from __future__ import annotations

import errno
import gzip
import io
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from debugnet.cli import main
from debugnet.cli.send import Progress
from debugnet.errors import Busy, DebugnetError, ErrnoError, TimedOut
from debugnet.inet.udpsocket import UdpShell
from debugnet.netdump.client import DumpProgress, NetdumpClient
from debugnet.netdump.dump import DumpOptions, DumpProducer
from debugnet.netdump.host import HostInfo
from debugnet.netdump.send import send_dump
from debugnet.transport.config import Mode, TransportConfig
from debugnet.transport.window import WindowStrategy
from tests.netutil import free_loopback
from tests.procs import stop_process
from tests.ptyrun import run_on_pty

DEBUGNET = [sys.executable, "-m", "debugnet"]
SIZE = 3_000_000


@dataclass
class Serve:
    ip: str
    dumpdir: Path
    proc: subprocess.Popen[bytes]

    def last(self) -> tuple[Path, Path]:
        core = (self.dumpdir / f"vmcore.{self.ip}.last").resolve()
        info = (self.dumpdir / f"info.{self.ip}.last").resolve()
        return core, info


def start_serve(dumpdir: Path) -> Serve:
    ip = free_loopback()
    log = dumpdir.parent / f"{dumpdir.name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*DEBUGNET, "serve", "--bind", ip, "--dir", str(dumpdir), "--no-resolve"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if b"listening" in log.read_bytes():
            return Serve(ip, dumpdir, proc)
        time.sleep(0.05)  # waiting for a process to start, not for a protocol timer
    proc.kill()
    proc.wait()
    pytest.fail(f"debugnet serve did not start: {log.read_bytes()!r}")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    running = start_serve(tmp_path_factory.mktemp("crash"))
    yield running
    stop_process(running.proc)


@pytest.fixture(scope="module")
def dump_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = b"\xaa" * 500_000 + random.Random(5).randbytes(SIZE - 500_000)
    path = tmp_path_factory.mktemp("src") / "memory.img"
    path.write_bytes(data)
    return path, data


def options_for_test() -> DumpOptions:
    return DumpOptions(HostInfo.detect(), "stall", 1_700_000_000)


def send(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*DEBUGNET, "send", *args], input=stdin, capture_output=True, timeout=120, check=False
    )


DECOMPRESS = {
    None: lambda b: b,
    "gzip": gzip.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
@pytest.mark.parametrize("mode", ["window", "seed"])
def test_send_to_serve_byte_exact(
    serve: Serve, dump_file: tuple[Path, bytes], mode: str, compress: str | None
) -> None:
    path, data = dump_file
    extra = ["--compress", compress] if compress else []
    res = send("-s", serve.ip, "-c", serve.ip, "--mode", mode, *extra, "--panic", "e2e", str(path))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert f"{mode} mode" in out and out.count("\n") == 1
    core, info = serve.last()
    suffix = {None: "", "gzip": ".gz", "zstd": ".zst"}[compress]
    assert core.name.endswith(suffix) and core.name.startswith(f"vmcore.{serve.ip}.")
    assert DECOMPRESS[compress](core.read_bytes()) == data
    text = info.read_text()
    assert "Dump complete" in text and "Panic String: e2e" in text
    assert f"Compression: {compress or 'none'}" in text


def test_send_stdin_kdh_after_data(serve: Serve, dump_file: tuple[Path, bytes]) -> None:
    _, data = dump_file
    res = send("-s", serve.ip, "-c", serve.ip, "-", stdin=data[:1_000_000])
    assert res.returncode == 0, res.stderr
    core, info = serve.last()
    assert core.read_bytes() == data[:1_000_000]
    assert "Dump Length: 1000000B" in info.read_text()


def test_api_send_dump_with_key(serve: Serve) -> None:
    payload = random.Random(9).randbytes(400_000)
    result = send_dump(serve.ip, io.BytesIO(payload), client=serve.ip, key=b"\x01" * 300)
    assert result.bytes_sent == 400_000 and result.server_port not in (None, 20023)
    core, _ = serve.last()
    assert core.read_bytes() == payload
    key = serve.dumpdir / f"key.{serve.ip}.{core.name.rsplit('.', 1)[1]}"
    assert key.read_bytes() == b"\x01" * 300


def test_missing_file_is_one_line(serve: Serve, tmp_path: Path) -> None:
    res = send("-s", serve.ip, "-c", serve.ip, str(tmp_path / "nope"))
    assert res.returncode != 0
    assert res.stderr.decode().strip().count("\n") == 0
    assert "no such file" in res.stderr.decode()


def test_refused_server_is_one_line() -> None:
    ip = free_loopback()
    res = send("-s", ip, "-c", ip, "/dev/null")
    assert res.returncode != 0
    err = res.stderr.decode()
    assert err.count("\n") == 1 and "refused" in err


@pytest.mark.parametrize("mode", ["window", "seed"])
def test_silent_server_is_etimedout(mode: str) -> None:
    ip = free_loopback()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((ip, 20023))
        res = send("-s", ip, "-c", ip, "--mode", mode, "--timeout", "0.5", "/dev/null")
    assert res.returncode != 0
    err = res.stderr.decode()
    assert err.count("\n") == 1 and "no answer" in err


def test_read_error_is_one_line_naming_the_path() -> None:
    # Reading /proc/self/mem at offset 0 fails with EIO, as a bad disk does.
    ip = free_loopback()
    res = send("-s", ip, "-c", ip, "/proc/self/mem")
    err = res.stderr.decode()
    assert res.returncode != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "/proc/self/mem" in err and "Input/output error" in err


@pytest.mark.parametrize("mode", ["seed", "window"])
@pytest.mark.parametrize("timeout", ["inf", "-inf", "nan", "0", "-1"])
def test_bad_timeout_is_one_line(
    mode: str, timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ip = free_loopback()
    code = main(["send", "-s", ip, "-c", ip, "--mode", mode, f"--timeout={timeout}", "/dev/null"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and "--timeout" in err and "positive" in err


class _Unreachable:
    """A socket whose reads fail as ICMP host/net unreachable makes them fail."""

    def __init__(self, code: int) -> None:
        self.code = code

    def recv(self, *args: object) -> bytes:
        raise OSError(self.code, os.strerror(self.code))

    recvfrom = recv

    def recvmsg(self, *args: object) -> bytes:
        raise BlockingIOError


class _Driver:
    done = False
    error = None
    server_port: int | None = 40000

    def receive_datagram(self, data: bytes, now: float, src_port: int) -> None:
        raise AssertionError("nothing can be received")


@pytest.mark.parametrize("code", [errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EIO])
@pytest.mark.parametrize("peer", [None, 40000])
def test_read_errors_become_debugnet_errors(peer: int | None, code: int) -> None:
    # Both paths: before the session port is known (recvfrom) and after,
    # when the socket is connected to it (recv).
    ip = free_loopback()
    with UdpShell(ip, client=ip) as shell:
        real = shell.sock
        shell.sock = _Unreachable(code)  # type: ignore[assignment]
        shell._peer_port = peer
        try:
            with pytest.raises(DebugnetError) as info:
                shell._receive(_Driver())
        finally:
            shell.sock = real
    if code == errno.EIO:
        assert "receive from" in str(info.value)
    else:
        assert isinstance(info.value, ErrnoError) and info.value.errno == code
        assert f"cannot reach {ip}" in str(info.value)


def test_client_port_taken_is_busy() -> None:
    ip = free_loopback()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((ip, 20024))
        with pytest.raises(Busy, match="20024"):
            send_dump(ip, b"x", client=ip)
        res = send("-s", ip, "-c", ip, "/dev/null")
    assert res.returncode != 0 and "in use" in res.stderr.decode()


def test_api_timeout_raises_timedout() -> None:
    ip = free_loopback()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((ip, 20023))
        with pytest.raises(TimedOut):
            send_dump(ip, b"abc", client=ip, config=TransportConfig(budget=0.3))
        with pytest.raises(TimedOut):
            cfg = TransportConfig(mode=Mode.SEED, npolls=20, nretries=1)
            send_dump(ip, b"abc", client=ip, config=cfg)


def test_stall_longer_than_the_budget_while_acks_wait_is_not_a_timeout(serve: Serve) -> None:
    # The process stops (SIGSTOP, a slow terminal write) while the server keeps
    # acking: the acks waiting in the socket must be read before any timer.
    payload = random.Random(12).randbytes(300_000)
    producer = DumpProducer(io.BytesIO(payload), len(payload), options_for_test())
    dump = NetdumpClient(producer, TransportConfig(budget=0.3))
    stalls: list[int] = []

    def progress() -> None:
        strategy = dump.conn.strategy
        assert isinstance(strategy, WindowStrategy)
        if not stalls and strategy.in_flight:
            stalls.append(strategy.in_flight)
            time.sleep(0.8)  # the stall itself, not a wait for a protocol timer

    with UdpShell(serve.ip, client=serve.ip) as shell:
        shell.run(dump, progress=progress, progress_interval=0.0)
    assert stalls and dump.done and dump.error is None
    assert serve.last()[0].read_bytes() == payload


def test_progress_line() -> None:
    out = io.StringIO()
    bar = Progress(out)  # type: ignore[arg-type]
    bar(DumpProgress(500_000, 500_000, 400_000, 1_000_000, 3, 400))
    bar(DumpProgress(1_000_000, 1_000_000, 1_000_000, 1_000_000, 3, 700))
    bar.end()
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "MB/s" in text and "retrans 3" in text and "ETA" in text and "100%" in text


def test_progress_bar_on_a_terminal(serve: Serve, dump_file: tuple[Path, bytes]) -> None:
    path, data = dump_file
    res, text = run_on_pty(80, [*DEBUGNET, "send", "-s", serve.ip, "-c", serve.ip, str(path)])
    assert res.returncode == 0
    assert "\r" in text and "MB/s" in text and "retrans" in text and "100%" in text
    assert serve.last()[0].read_bytes() == data
