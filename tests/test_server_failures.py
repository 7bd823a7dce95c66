"""Storage failures, shutdown, the command lines, and a fuzzed live server."""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dumpclient import DATA, KDH, ClientTimeout, DumpClient, message
from tests.netutil import free_loopback
from tests.serverutil import fill_disk_at, handler_calls, handler_script, kdh, wait_for

IS_ROOT = os.geteuid() == 0


def _dump_too_big(srv, tmp_path: Path, size: int, *, with_kdh: bool = True) -> tuple[str, Path]:
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip, retries=10) as c:
        c.herald()
        if with_kdh:
            c.send(KDH, kdh(size))
        with pytest.raises(ClientTimeout):
            for off in range(0, size, 65536):
                c.send(DATA, b"\xab" * 65536, off)
            c.finish()
    return ip, srv.dumpdir / f"info.{ip}.0"


@pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs needs root")
def test_disk_full_on_tmpfs(run_server, tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        script, out = handler_script(tmp_path)
        srv = run_server(mnt, handler=script, write_buffer=128 * 1024)
        # no KDH: with one announcing 4 MiB the disk floor would end the dump first
        ip, info = _dump_too_big(srv, tmp_path, 4 << 20, with_kdh=False)
        text = info.read_text()
        assert "Dump unsuccessful: write error @ offset " in text
        assert text.endswith(": No space left on device\n")
        wait_for(lambda: len(handler_calls(out)) == 1)
        assert handler_calls(out)[0][0] == "error"
        # the server keeps serving others
        wait_for(lambda: srv.server.active_sessions() == 0)
        ip2 = free_loopback((20024,))
        os.unlink(mnt / f"vmcore.{ip}.0")
        with DumpClient(ip2, srv.ip) as c:
            c.herald()
            c.dump(b"ok" * 100)
        assert (mnt / f"vmcore.{ip2}.0").read_bytes() == b"ok" * 100
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_injected_write_error(run_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_disk_at(monkeypatch, 131072)
    script, out = handler_script(tmp_path)
    srv = run_server(handler=script, write_buffer=65536)
    _ip, info = _dump_too_big(srv, tmp_path, 1 << 20)
    assert info.read_text().endswith(
        "Dump unsuccessful: write error @ offset 00020000: No space left on device\n"
    )
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out)[0][0] == "error"


def test_shutdown_ends_open_sessions_as_timeout(run_server, tmp_path: Path) -> None:
    script, out = handler_script(tmp_path)
    srv = run_server(handler=script)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, kdh(9000))
        c.send(DATA, b"p" * 3000)
        srv.stop()
    assert (srv.dumpdir / f"info.{ip}.0").read_text().endswith("Dump incomplete: server stopped\n")
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out)[0][0] == "timeout"


def _spawn(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on udp" in line, line + (proc.stderr.read() if proc.stderr else "")
    return proc


def test_cli_serve_sigterm_runs_handler_and_exits_zero(tmp_path: Path) -> None:
    script, out = handler_script(tmp_path)
    ip = free_loopback()
    proc = _spawn(
        [sys.executable, "-m", "debugnet", "serve", "--bind", ip, "--handler", str(script),
         "--no-resolve", "--pidfile", str(tmp_path / "pid")],
        tmp_path,
    )  # fmt: skip
    try:
        assert (tmp_path / "pid").read_text().strip() == str(proc.pid)
        with DumpClient(ip, ip) as c:
            c.herald()
            c.send(DATA, b"s" * 2000)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    info = tmp_path / "crash" / f"info.{ip}.0"  # ./crash, created by default
    assert info.read_text().endswith("Dump incomplete: server stopped\n")
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out)[0][:2] == ["timeout", ip]
    assert not (tmp_path / "pid").exists()


def test_netdumpd_flags_and_pidfile_refuses_second_instance(tmp_path: Path) -> None:
    ip = free_loopback()
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    pid = tmp_path / "netdumpd.pid"
    argv = [sys.executable, "-m", "debugnet.cli.netdumpd", "-D", "-a", ip, "-d", str(dumps),
            "-P", str(pid)]  # fmt: skip
    proc = _spawn(argv, tmp_path)
    try:
        with DumpClient(ip, ip) as c:
            c.herald()
            c.dump(b"n" * 5000, kdh(5000))
        assert (dumps / f"vmcore.{ip}.0").read_bytes() == b"n" * 5000
        second = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert second.returncode != 0
        assert "held by another instance" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--handler", "/nonexistent/handler"], "no such file"),
        (["serve", "--handler", "plain.txt"], "not executable"),
        (["serve", "--default-path", "../up"], "must be relative"),
        (["serve", "--timeout", "0"], "timeout must be positive"),
    ],
)
def test_cli_user_errors_are_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    (tmp_path / "plain.txt").write_text("not a script\n")
    (tmp_path / "plain.txt").chmod(0o644)
    proc = subprocess.run(
        [sys.executable, "-m", "debugnet", *argv, "--bind", "127.0.0.1", "--port", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_netdumpd_missing_dumpdir(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "debugnet.cli.netdumpd", "-D", "-d", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"netdumpd: dump directory {tmp_path / 'nope'} does not exist"


def _mutate(rng: random.Random, pkt: bytes) -> bytes:
    b = bytearray(pkt)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif choice < 0.6:
            b = b[: rng.randrange(len(b) + 1)]
        elif choice < 0.8:
            b += rng.randbytes(rng.randint(1, 64))
        elif len(b) >= 4:
            struct.pack_into("!I", b, 0, rng.choice([0, 1, 2, 3, 4, 5, 6, 0xFFFFFFFF]))
    return bytes(b)


@pytest.mark.slow
def test_fuzzed_live_server_still_lands_a_dump(
    run_server, caplog: pytest.LogCaptureFixture
) -> None:
    srv = run_server(max_dumps=8)
    rng = random.Random(2026)
    fuzz_ip = free_loopback((20024,))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((fuzz_ip, 20024))
    sock.setblocking(False)
    session_port = None
    templates = [
        message(1, 1, b"path\0"),
        message(1, 1),
        message(3, 5, b"x" * 100, 4096),
        message(4, 2, kdh(1000)),
        message(5, 3, b"k" * 40),
        message(2, 9),
    ]
    sent = 0
    for i in range(100_000):
        if i % 2:
            pkt = _mutate(rng, rng.choice(templates))
        else:
            pkt = rng.randbytes(rng.choice([0, 3, 4, 23, 24, 25, 100, 600]))
        if session_port is not None and rng.random() < 0.5:
            if len(pkt) >= 24:  # keep offsets small so the session's file stays small
                pkt = pkt[:8] + struct.pack("!Q", rng.randrange(1 << 20)) + pkt[16:]
            dest = (srv.ip, session_port)
        else:
            dest = (srv.ip, 20023)
        try:
            sock.sendto(pkt, dest)
            sent += 1
        except BlockingIOError:
            pass
        try:
            _ack, (_ip, port) = sock.recvfrom(16)
            session_port = port
        except (BlockingIOError, ConnectionRefusedError):
            pass
    sock.close()
    assert sent > 90_000
    ip = free_loopback((20024,))
    data = random.Random(1).randbytes(250_000)
    with DumpClient(ip, srv.ip, retries=200) as c:
        c.herald()
        c.dump(data, kdh(len(data)))
    assert (srv.dumpdir / f"vmcore.{ip}.0").read_bytes() == data
    assert srv.server.counters["bad herald"] > 1000
    assert not [r for r in caplog.records if r.exc_info]


def test_second_server_on_the_same_address_is_refused(tmp_path: Path) -> None:
    ip = free_loopback()
    first = _spawn(
        [sys.executable, "-m", "debugnet", "serve", "--bind", ip, "--no-resolve"], tmp_path
    )
    try:
        second = subprocess.run(
            [sys.executable, "-m", "debugnet", "serve", "--bind", ip, "--dir", "other"],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"debugnet serve: cannot listen on udp {ip}:20023: Address already in use"
        )
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0


def test_netdumpd_daemonizes_after_taking_pidfile_and_port(tmp_path: Path) -> None:
    ip = free_loopback()
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    pidfile = tmp_path / "netdumpd.pid"
    argv = [sys.executable, "-m", "debugnet.cli.netdumpd", "-a", ip, "-d", str(dumps),
            "-P", str(pidfile)]  # fmt: skip
    started = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit())
    daemon = int(pidfile.read_text())
    try:
        with DumpClient(ip, ip) as c:
            c.herald()
            c.dump(b"d" * 3000, kdh(3000))
        assert (dumps / f"vmcore.{ip}.0").read_bytes() == b"d" * 3000
        again = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert again.returncode == 1
        assert "held by another instance" in again.stderr
        assert "Traceback" not in again.stderr
    finally:
        os.kill(daemon, signal.SIGTERM)
        wait_for(lambda: not pidfile.exists())


def test_per_host_limit_logs_an_error(run_server, caplog: pytest.LogCaptureFixture) -> None:
    srv = run_server(max_dumps=2)
    ip = free_loopback((20024,))
    for i in range(2):
        (srv.dumpdir / f"info.{ip}.{i}").write_text("taken")
    with DumpClient(ip, srv.ip, retries=3) as c, pytest.raises(ClientTimeout):
        c.herald()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("all 2 dump indexes" in m and "not acknowledged" in m for m in errors)
