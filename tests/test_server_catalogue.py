"""The catalogue against real dumps through the real server, and --layout savecore."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from debugnet.catalogue import DumpState, ListQuery, open_catalogue
from debugnet.catalogue.files import scan
from debugnet.catalogue.sqlbase import SqlCatalogue
from debugnet.netdump.send import send_dump
from debugnet.triage.info import parse_info
from tests.dumpclient import DATA, KDH, ClientTimeout, DumpClient
from tests.dumpdirs import trap_minidump
from tests.netutil import free_loopback
from tests.serverutil import (
    Running,
    fill_disk_at,
    handler_calls,
    kdh,
    record_when,
    servers_on,
    signed,
    start_server,
    wait_for,
)

PORT = 20123
"""A herald port of our own: another server on the box may hold 0.0.0.0:20023."""
TRAP = "Fatal trap NUM: page fault while in kernel mode in tcp_output"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    yield from servers_on(tmp_path, PORT)


def status_handler(tmp_path: Path, status: int) -> tuple[Path, Path]:
    out = tmp_path / "handler-out"
    out.mkdir(exist_ok=True)
    script = tmp_path / "handler.sh"
    script.write_text(f'#!/bin/sh\necho "$@" > {out}/call.$$\nexit {status}\n')
    script.chmod(0o755)
    return script, out


def test_complete_dump_is_catalogued(serve: Callable[..., Running], tmp_path: Path) -> None:
    script, out = status_handler(tmp_path, 3)
    srv = serve(handler=script)
    ip = free_loopback((20024,))
    data = trap_minidump() + bytes(100_000)
    send_dump(srv.ip, io.BytesIO(data), client=ip, server_port=PORT, panic="page fault")
    r = record_when(srv.dumpdir, f"{ip}.0", lambda r: signed(r) and r.handler_status is not None)
    assert (r.state, r.reason, r.ip, r.host, r.index) == (DumpState.COMPLETE, None, ip, ip, 0)
    assert (r.signature, r.signature_version, r.handler, r.handler_status) == (
        TRAP,
        1,
        "success",
        3,
    )
    assert r.bytes == r.length == len(data)
    assert r.panic == "page fault" and r.architecture and r.compression == "none"
    assert r.files == [f"info.{ip}.0", f"vmcore.{ip}.0"]
    assert r.started <= (r.ended or 0) and r.encrypted is False
    assert len(handler_calls(out)) == 1


def test_compressed_in_a_subdirectory(serve: Callable[..., Running]) -> None:
    srv = serve()
    (srv.dumpdir / "rack1").mkdir()
    ip = free_loopback((20024,))
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, compress="gzip", path="rack1")
    r = record_when(srv.dumpdir, f"rack1/{ip}.0", signed)
    assert r.state is DumpState.COMPLETE and r.signature == TRAP and r.compression == "gzip"
    assert r.files == [f"rack1/info.{ip}.0", f"rack1/vmcore.{ip}.0.gz"]
    assert gzip.decompress((srv.dumpdir / r.files[1]).read_bytes()) == trap_minidump()


def test_holes_timeout_and_bad_kdh(serve: Callable[..., Running]) -> None:
    srv = serve()
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # a hole: bytes 1000-2000 never sent
        c.herald()
        c.send(KDH, kdh(3000))
        c.send(DATA, b"a" * 1000, 0)
        c.send(DATA, b"c" * 1000, 2000)
        c.finish()
    r = record_when(srv.dumpdir, f"{ip}.0", signed)
    assert r.state is DumpState.INCOMPLETE and r.reason is not None
    assert r.reason.startswith("holes: 1000 bytes missing at 0x3e8-0x7d0")
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # a KDH too small, then complete
        c.herald()
        c.send(KDH, b"short")
        c.send(DATA, b"x" * 100, 0)
        c.finish()
    r = record_when(srv.dumpdir, f"{ip}.1", signed)
    # the table of endings (README): a bad KDH fails the dump, the handler gets "error"
    expected = (DumpState.FAILED, "bad KDH: packet too small", "error")
    assert (r.state, r.reason, r.handler) == expected
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # the server stops mid-dump
        c.herald()
        c.send(KDH, kdh(9000))
        c.send(DATA, b"p" * 3000)
        srv.stop()
    r = record_when(srv.dumpdir, f"{ip}.2", signed)
    assert (r.state, r.reason, r.handler, r.bytes) == (
        DumpState.INCOMPLETE,
        "server stopped",  # the table of endings (README)
        "timeout",
        3000,
    )
    # what the files say, read back as reindex does, is what the live catalogue said
    live = {x.id: (x.state, x.reason) for x in open_catalogue(srv.dumpdir).dumps(ListQuery())}
    from_files = {x.id: (x.state, x.reason) for x in scan(srv.dumpdir)}
    assert from_files == live and len(live) == 3


def test_no_catalogue(serve: Callable[..., Running]) -> None:
    srv = serve(catalogue=False)
    send_dump(srv.ip, b"x" * 100, client=free_loopback((20024,)), server_port=PORT)
    assert not (srv.dumpdir / "catalogue.sqlite").exists()


def test_layout_savecore(serve: Callable[..., Running], tmp_path: Path) -> None:
    srv = serve(layout="savecore")
    ip = free_loopback((20024,))
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT)
    wait_for(lambda: srv.server.active_sessions() == 0)  # the first session's linger is over
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, key=b"\x01" * 512)
    d = srv.dumpdir / ip
    names = sorted(p.name for p in d.iterdir())
    assert names == [
        "bounds",
        "info.0",
        "info.1",
        "info.last",
        "key.1",
        "key.last",
        "vmcore.0",
        "vmcore_encrypted.1",
        "vmcore_encrypted.last",
    ]  # savecore removes every .last link before a save: no vmcore.last to the older dump
    assert (d / "bounds").read_text() == "2\n"
    assert os.readlink(d / "vmcore_encrypted.last") == "vmcore_encrypted.1"
    assert os.readlink(d / "key.last") == "key.1" and os.readlink(d / "info.last") == "info.1"
    # crashinfo(8) takes the index from the core's name with expr, anchored at the start
    expr = subprocess.run(
        ["expr", "vmcore.0", ":", r"vmcore\.\([0-9]*\)"],
        capture_output=True,
        text=True,
        check=False,
        cwd=d,
    )
    assert expr.stdout == "0\n" and (d / f"info.{expr.stdout.strip()}").exists()
    info = parse_info((d / "info.0").read_bytes())
    assert info.version_string and info.outcome.state is DumpState.COMPLETE
    r = record_when(srv.dumpdir, f"{ip}.0", signed)
    assert (r.layout, r.files, r.signature) == (
        "savecore",
        [f"{ip}/info.0", f"{ip}/vmcore.0"],
        TRAP,
    )
    r = record_when(srv.dumpdir, f"{ip}.1", signed)
    assert r.encrypted and r.files == [f"{ip}/info.1", f"{ip}/vmcore_encrypted.1", f"{ip}/key.1"]
    assert r.signature == "debugnet send"  # encrypted: from the panic string alone


def _spawn_serve(dumpdir: Path, ip: str, handler: Path) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "debugnet",
        "serve",
        "--bind",
        ip,
        "--port",
        str(PORT),
        "--dir",
        str(dumpdir),
        "--no-resolve",
        "--handler",
        str(handler),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    assert "listening on udp" in proc.stdout.readline()
    return proc


def test_killed_collector_marks_interrupted_dumps_on_restart(tmp_path: Path) -> None:
    script, out = status_handler(tmp_path, 0)
    dumpdir = tmp_path / "crash"
    dumpdir.mkdir()
    ip = free_loopback((PORT, 20024))
    client_ip = free_loopback((20024,), avoid={ip})
    proc = _spawn_serve(dumpdir, ip, script)
    try:
        with DumpClient(client_ip, ip, server_port=PORT) as c:
            c.herald()
            c.send(KDH, kdh(90000))
            c.send(DATA, b"p" * 3000)
            record_when(dumpdir, f"{client_ip}.0", lambda r: r.length == 90000)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    info = dumpdir / f"info.{client_ip}.0"
    assert not info.read_text().startswith("Dump incomplete")
    proc = _spawn_serve(dumpdir, ip, script)
    try:
        r = record_when(dumpdir, f"{client_ip}.0", lambda r: r.state is not DumpState.RECEIVING)
        assert (r.state, r.reason, r.handler) == (DumpState.INCOMPLETE, "interrupted", "error")
        assert info.read_text().endswith("Dump incomplete: server stopped while receiving\n")
        wait_for(lambda: len(handler_calls(out)) == 1)
        assert handler_calls(out)[0] == [
            "error",
            client_ip,
            client_ip,
            f"./info.{client_ip}.0",
            f"./vmcore.{client_ip}.0",
        ]
        with DumpClient(client_ip, ip, server_port=PORT) as c:  # the next index is right
            c.herald()
            c.dump(b"ok" * 100, kdh=kdh(200))
        assert (dumpdir / f"vmcore.{client_ip}.1").read_bytes() == b"ok" * 100
        r = record_when(dumpdir, f"{client_ip}.1", signed)
        assert r.state is DumpState.COMPLETE
    finally:
        proc.terminate()
        proc.wait(10)


def test_write_error_is_failed(
    serve: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_disk_at(monkeypatch, 131072)
    srv = serve(write_buffer=65536)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip, server_port=PORT, retries=5) as c:
        c.herald()
        c.send(KDH, kdh(1 << 20))
        with pytest.raises(ClientTimeout):  # the server fails the session and stops acking
            for off in range(0, 1 << 20, 65536):
                c.send(DATA, b"\xab" * 65536, off)
    r = record_when(srv.dumpdir, f"{ip}.0", signed)
    assert (r.state, r.handler) == (DumpState.FAILED, "error")
    assert r.reason == "write error @ offset 00020000: No space left on device"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_then_freed(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        srv = start_server(mnt, port=PORT, write_buffer=128 * 1024)
        try:
            ip = free_loopback((20024,))
            with DumpClient(ip, srv.ip, server_port=PORT, retries=5) as c:
                c.herald()  # no KDH: one announcing 4 MiB would meet the disk floor guard first
                with pytest.raises(ClientTimeout):  # the disk fills; the session fails
                    for off in range(0, 4 << 20, 65536):
                        c.send(DATA, b"\xab" * 65536, off)
            info = mnt / f"info.{ip}.0"
            wait_for(lambda: "Dump unsuccessful" in info.read_text())
            os.unlink(mnt / f"vmcore.{ip}.0")  # the operator frees the disk
            ip2 = free_loopback((20024,), avoid={ip})
            send_dump(srv.ip, b"ok" * 100, client=ip2, server_port=PORT)
            r = record_when(mnt, f"{ip}.0", signed)  # the failed write was retried
            assert r.state is DumpState.FAILED and r.reason is not None
            assert r.reason.endswith("No space left on device")
            assert record_when(mnt, f"{ip2}.0", signed).state is DumpState.COMPLETE
        finally:
            srv.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_the_record_is_written_before_finished_is_acked(
    serve: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`debugnet dumps` finds the dump, ended and signed, the moment the client returns."""
    real = SqlCatalogue.update

    def slow(self: SqlCatalogue, dump_id: str, **changes: object) -> None:
        time.sleep(0.3)  # a busy catalogue: the writer thread lags behind the receive path
        real(self, dump_id, **changes)

    monkeypatch.setattr(SqlCatalogue, "update", slow)
    srv = serve()
    ip = free_loopback((20024,))
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT)
    cat = open_catalogue(srv.dumpdir)
    try:
        r = cat.get(f"{ip}.0")  # no waiting: the ack came after the catalogue's writes
    finally:
        cat.close()
    assert r is not None and r.state is DumpState.COMPLETE and r.signature == TRAP
