"""Server pieces without a network: naming, index allocation, buffered storage, resolver."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from debugnet.server.resolver import Resolver
from debugnet.storage import directory
from debugnet.storage.directory import DumpFiles, DumpLimitReached, DumpPaths, allocate_index
from debugnet.storage.dirfd import DirHandle
from debugnet.storage.naming import resolve_client_dir, safe_hostname, vmcore_name
from tests.dumpclient import DATA, DumpClient, message
from tests.netutil import free_loopback
from tests.serverutil import kdh, wait_for


def test_safe_hostname() -> None:
    assert safe_hostname("crash.example.org", "192.0.2.1") == "crash"
    assert safe_hostname("bad/name.example", "192.0.2.1") == "192.0.2.1"
    assert safe_hostname("", "192.0.2.1") == "192.0.2.1"
    assert safe_hostname(None, "192.0.2.1") == "192.0.2.1"
    assert safe_hostname("\x01ctl", "192.0.2.1") == "192.0.2.1"


def test_vmcore_names() -> None:
    assert vmcore_name("h", 3, encrypted=False, compression="none") == "vmcore.h.3"
    assert vmcore_name("h", 3, encrypted=True, compression="gzip") == "vmcore_encrypted.h.3.gz"
    assert vmcore_name("h", 3, encrypted=False, compression="zstd") == "vmcore.h.3.zst"


def test_resolve_client_dir(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    os.symlink("a/b", tmp_path / "inside")  # a relative link that stays inside is fine
    assert resolve_client_dir(tmp_path, "a/b") == tmp_path / "a" / "b"
    assert resolve_client_dir(tmp_path, "inside") == tmp_path / "inside"
    for bad in ["", "/etc", "../x", "a/../..", "file", "nope", "a/\0"]:
        assert resolve_client_dir(tmp_path, bad) is None, bad


def test_allocate_index_hint_scan_and_limit(tmp_path: Path) -> None:
    with DirHandle.open(tmp_path) as d:
        _allocate_index_hint_scan_and_limit(tmp_path, d)


def _allocate_index_hint_scan_and_limit(tmp_path: Path, d: DirHandle) -> None:
    assert allocate_index(d, "h", 4) == 0
    assert (tmp_path / "bounds.h").read_text() == "1\n"
    (tmp_path / "info.h.0").write_text("")
    (tmp_path / "info.h.1").write_text("")
    assert allocate_index(d, "h", 4) == 2  # hint 1 is taken: lowest free
    (tmp_path / "vmcore_encrypted.h.2.zst").write_text("")  # any variant takes an index
    (tmp_path / "bounds.h").write_text("junk")
    assert allocate_index(d, "h", 4) == 3
    (tmp_path / "key.h.3").write_text("")
    with pytest.raises(DumpLimitReached):
        allocate_index(d, "h", 4)


def test_writes_are_gathered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = os.pwrite

    def counting(fd: int, data: bytes, offset: int) -> int:
        calls.append((offset, len(data)))
        return real(fd, data, offset)

    monkeypatch.setattr(directory.os, "pwrite", counting)
    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 64 * 1024)
    blob = os.urandom(1448 * 100)
    for off in range(0, len(blob), 1448):
        files.write(off, blob[off : off + 1448])
    files.write(500_000, b"tail")  # a jump flushes what was gathered
    files.write(0, blob[:1448])  # a duplicate rewrites in place
    files.sync()
    files.close()
    assert len(calls) <= 5
    data = (tmp_path / "vmcore.h.0").read_bytes()
    assert data[: len(blob)] == blob and data[500_000:] == b"tail"


def test_write_error_reports_file_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int, data: bytes, offset: int) -> int:
        raise OSError(5, "Input/output error")

    files = DumpFiles(DumpPaths(tmp_path, "h", 0), 4096)
    monkeypatch.setattr(directory.os, "pwrite", failing)
    files.write(0x12345, b"x" * 10)
    with pytest.raises(directory.StorageError) as err:
        files.sync()
    assert str(err.value) == "write error @ offset 00012345: Input/output error"
    files.close()


def test_resolver_timeout_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    answered = threading.Event()

    def slow(ip: str) -> tuple[str, list[str], list[str]]:
        release.wait(20)  # bounds a broken test; a passing one never waits here
        answered.set()
        return ("late.example", [], [ip])

    monkeypatch.setattr(socket, "gethostbyaddr", slow)
    resolver = Resolver(timeout=0.05)
    # The fallback came while the lookup was still blocked: hostname() did not wait for it.
    assert resolver.hostname("192.0.2.7") == "192.0.2.7"
    assert not answered.is_set()
    release.set()  # the lookup completes in the background and names the next dump
    wait_for(lambda: resolver.hostname("192.0.2.7") == "late")
    monkeypatch.setattr(socket, "gethostbyaddr", lambda ip: ("box.example.net", [], [ip]))
    assert resolver.hostname("192.0.2.8") == "box"
    monkeypatch.setattr(socket, "gethostbyaddr", lambda ip: (_ for _ in ()).throw(OSError()))
    assert resolver.hostname("192.0.2.9") == "192.0.2.9"
    assert Resolver(enabled=False).hostname("192.0.2.9") == "192.0.2.9"
    resolver.close()


def test_slow_reverse_dns_does_not_stall_other_clients(
    run_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_ip = free_loopback((20024,))
    release = threading.Event()

    def lookup(ip: str) -> tuple[str, list[str], list[str]]:
        if ip == slow_ip:
            release.wait(10)
        raise OSError("no PTR")

    monkeypatch.setattr(socket, "gethostbyaddr", lookup)
    srv = run_server(resolve=True, dns_timeout=30.0)
    fast_ip = free_loopback((20024,), avoid={slow_ip})
    with DumpClient(slow_ip, srv.ip, retries=1000) as slow:
        slow.sock.sendto(message(1, 1), (srv.ip, 20023))  # its session waits on DNS
        with DumpClient(fast_ip, srv.ip) as fast:
            fast.herald()
            fast.dump(b"f" * 5000, kdh(5000))
        assert (srv.dumpdir / f"vmcore.{fast_ip}.0").read_bytes() == b"f" * 5000
        release.set()
        slow.herald()
        slow.dump(b"s" * 100)
    assert (srv.dumpdir / f"vmcore.{slow_ip}.0").read_bytes() == b"s" * 100


def test_herald_from_wrong_port_is_dropped_and_counted(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024, 20099))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 20099))
    s.settimeout(0.3)
    s.sendto(message(1, 1), (srv.ip, 20023))
    with pytest.raises(TimeoutError):
        s.recvfrom(16)
    s.close()
    assert srv.server.counters["wrong source port"] == 1
    assert srv.server.counters["sessions"] == 0


def test_herald_path_without_nul_uses_default(run_server, tmp_path: Path) -> None:
    dumpdir = tmp_path / "crash"
    (dumpdir / "sub").mkdir(parents=True)
    (dumpdir / "dflt").mkdir()
    srv = run_server(dumpdir, default_path="dflt")
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald(raw=b"sub")  # not NUL-terminated: netdumpd ignores the path
        c.dump(b"d" * 10)
    assert (dumpdir / "dflt" / f"vmcore.{ip}.0").read_bytes() == b"d" * 10


def test_bad_parity_is_reported(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    header = bytearray(kdh(100))
    header[100] ^= 0xFF  # inside the hostname padding: parity no longer holds
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.dump(b"p" * 100, bytes(header))
    info = (srv.dumpdir / f"info.{ip}.0").read_text()
    assert "  Header Parity Check: Fail\n" in info
    assert info.endswith("Dump complete\n")


def test_session_answers_from_the_address_the_herald_was_sent_to(run_server) -> None:
    """A wildcard listener learns the herald's destination (IP_PKTINFO) and acks from it."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("0.0.0.0", 0))
    port = probe.getsockname()[1]
    probe.close()
    srv = run_server(bind="0.0.0.0", port=port)
    target = free_loopback(())  # any loopback address reaches the wildcard listener
    ip = free_loopback((20024,), avoid={target})
    with DumpClient(ip, target, server_port=port) as c:
        c.sock.sendto(message(1, 1), (target, port))
        c.sock.settimeout(5)
        ack, (src, session_port) = c.sock.recvfrom(16)
        assert ack == (1).to_bytes(4, "big")
        assert src == target and session_port != port
        c.port, c.seqno = session_port, 2
        c.dump(b"w" * 2000, kdh(2000))
    assert (srv.dumpdir / f"vmcore.{ip}.0").read_bytes() == b"w" * 2000


def test_sessions_log_start_progress_and_end(run_server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    srv = run_server(progress_interval=0.0)
    ip = free_loopback((20024,))

    def logged(fragment: str) -> bool:
        return any(fragment in r.getMessage() for r in caplog.records)

    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(DATA, b"p" * 5000)
        wait_for(lambda: logged("5000 bytes received"))  # the worker's periodic look
        c.dump(b"q" * 10, kdh(10))
    wait_for(lambda: logged("dump ended (success)"))
    assert logged(f"dump from {ip} [{ip}] started -> ")
    end = next(r.getMessage() for r in caplog.records if "dump ended" in r.getMessage())
    assert "MB/s" in end and f"vmcore.{ip}.0" in end
