"""The dump server end to end over loopback, with a minimal client and a lossy relay."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from debugnet.wire.kdh import Compression
from tests.dumpclient import DATA, EKCD_KEY, KDH, ClientTimeout, DumpClient
from tests.netutil import free_loopback
from tests.relay import Relay
from tests.serverutil import (
    file_mode,
    handler_calls,
    handler_script,
    kdh,
    wait_for,
)

INFO_TEMPLATE = (
    "Dump from {ip} [{ip}]\n"
    "  Architecture: amd64\n"
    "  Architecture Version: 2\n"
    "  Dump Length: {n}B ({mb} MB)\n"
    "  Blocksize: 512\n"
    "  Compression: {comp}\n"
    "  Dumptime: {ctime}"
    "  Hostname: crashy\n"
    "  Version String: FreeBSD 15.0-CURRENT #0: test\n"
    "  Panic String: test panic\n"
    "  Header Parity Check: Pass\n"
    "{status}"
)


def expected_info(ip: str, n: int, status: str = "Dump complete\n", comp: str = "none") -> str:
    return INFO_TEMPLATE.format(
        ip=ip, n=n, mb=n >> 20, comp=comp, ctime=time.ctime(1_700_000_000) + "\n", status=status
    )


def payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def test_whole_dump_byte_exact_with_info_and_symlinks(run_server, tmp_path: Path) -> None:
    script, out = handler_script(tmp_path)
    srv = run_server(handler=script)
    ip = free_loopback((20024,))
    data = payload(300_000)
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.dump(data, kdh(len(data)))
    d = srv.dumpdir
    assert (d / f"vmcore.{ip}.0").read_bytes() == data
    assert (d / f"info.{ip}.0").read_text() == expected_info(ip, len(data))
    assert os.readlink(d / f"vmcore.{ip}.last") == f"vmcore.{ip}.0"
    assert os.readlink(d / f"info.{ip}.last") == f"info.{ip}.0"
    assert file_mode(d / f"vmcore.{ip}.0") == 0o600
    assert file_mode(d / f"info.{ip}.0") == 0o600
    assert (d / f"bounds.{ip}").read_text().strip() == "1"
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out) == [["success", ip, ip, f"./info.{ip}.0", f"./vmcore.{ip}.0"]]


def test_second_dump_takes_next_index(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    for i in range(2):
        with DumpClient(ip, srv.ip) as c:
            c.herald()
            c.dump(payload(5000, i), kdh(5000))
    assert (srv.dumpdir / f"vmcore.{ip}.1").read_bytes() == payload(5000, 1)
    assert os.readlink(srv.dumpdir / f"vmcore.{ip}.last") == f"vmcore.{ip}.1"


def test_retransmitted_herald_is_reacked_from_the_session_port(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        first = c.herald()
        c.seqno = 1
        again = c.herald()  # the same herald again: our first ack "was lost"
        assert again == first
        heralds = 2 + c.retransmits  # a loaded server may be slower than the client's RTO
        c.dump(b"x" * 3000, kdh(3000))
    assert srv.server.counters["sessions"] == 1
    assert srv.server.counters["herald retransmissions"] == heralds - 1
    assert not (srv.dumpdir / f"info.{ip}.1").exists()


def test_new_herald_after_data_ends_old_dump_as_timeout(run_server, tmp_path: Path) -> None:
    script, out = handler_script(tmp_path)
    srv = run_server(handler=script)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, kdh(4000))
        c.send(DATA, b"a" * 1000)
        c.seqno = 1
        c.herald()
        c.dump(b"b" * 4000, kdh(4000))
    d = srv.dumpdir
    wait_for(lambda: len(handler_calls(out)) == 2)
    assert (d / f"info.{ip}.0").read_text().endswith("Dump incomplete: client timed out\n")
    assert (d / f"vmcore.{ip}.1").read_bytes() == b"b" * 4000
    assert sorted(call[0] for call in handler_calls(out)) == ["success", "timeout"]


@pytest.mark.parametrize(
    ("loss", "dup", "reorder"),
    [(0.05, 0.0, 0.0), (0.0, 0.1, 0.0), (0.0, 0.0, 0.1), (0.05, 0.05, 0.05)],
)
def test_lossy_relay_byte_exact(run_server, loss: float, dup: float, reorder: float) -> None:
    srv = run_server()
    relay_ip = free_loopback((20023, 20024))
    client_ip = free_loopback((20024,), avoid={relay_ip})
    data = payload(400_000, 7)
    with (
        Relay(relay_ip, client_ip, srv.ip, loss=loss, duplicate=dup, reorder=reorder, seed=3) as r,
        DumpClient(client_ip, relay_ip, rto=0.02, retries=200) as c,
    ):
        c.herald()
        c.dump(data, kdh(len(data)))
    assert (srv.dumpdir / f"vmcore.{relay_ip}.0").read_bytes() == data
    assert (srv.dumpdir / f"info.{relay_ip}.0").read_text().endswith("Dump complete\n")
    assert sum(r.stats[k] for k in ("lost", "duplicated", "reordered")) > 0


def test_sixteen_concurrent_clients(run_server) -> None:
    srv = run_server()
    ips: set[str] = set()
    for _ in range(16):
        ips.add(free_loopback((20024,), avoid=ips))
    errors: list[BaseException] = []

    def one(ip: str, seed: int) -> None:
        try:
            with DumpClient(ip, srv.ip, retries=200) as c:
                c.herald()
                data = payload(200_000, seed)
                c.dump(data, kdh(len(data)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(ip, i)) for i, ip in enumerate(sorted(ips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for i, ip in enumerate(sorted(ips)):
        assert (srv.dumpdir / f"vmcore.{ip}.0").read_bytes() == payload(200_000, i)


@pytest.mark.parametrize(
    "path",
    [b"../outside", b"/tmp", b"evil", b"dots", b"sub/../../x", b"missing", b"good/../../crash"],
)
def test_path_traversal_lands_in_default_path(run_server, tmp_path: Path, path: bytes) -> None:
    dumpdir = tmp_path / "crash"
    dumpdir.mkdir()
    (tmp_path / "outside").mkdir()
    (dumpdir / "good").mkdir()
    os.symlink(str(tmp_path / "outside"), dumpdir / "evil")  # absolute, leaves the dump dir
    os.symlink("../outside", dumpdir / "dots")  # '..' on the way
    srv = run_server(dumpdir)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald(path)
        c.dump(b"z" * 2000, kdh(2000))
    assert (dumpdir / f"vmcore.{ip}.0").read_bytes() == b"z" * 2000
    assert list((tmp_path / "outside").iterdir()) == []
    assert not (dumpdir / "missing").exists()


def test_valid_herald_path_is_used(run_server, tmp_path: Path) -> None:
    dumpdir = tmp_path / "crash"
    (dumpdir / "rack1" / "hostA").mkdir(parents=True)
    srv = run_server(dumpdir)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald(b"rack1/hostA")
        c.dump(b"q" * 2000, kdh(2000))
    assert (dumpdir / "rack1" / "hostA" / f"vmcore.{ip}.0").read_bytes() == b"q" * 2000


def test_encrypted_dump_names_and_key(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    key = bytes(range(37)) + b"k" * 256
    data = payload(10_000, 3)
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(EKCD_KEY, key)  # the current kernel sends the key first
        c.dump(data, kdh(len(data), dumpkeysize=len(key)))
    d = srv.dumpdir
    assert (d / f"key.{ip}.0").read_bytes() == key
    assert file_mode(d / f"key.{ip}.0") == 0o400
    assert (d / f"vmcore_encrypted.{ip}.0").read_bytes() == data
    assert not (d / f"vmcore.{ip}.0").exists()
    assert os.readlink(d / f"vmcore.{ip}.last") == f"vmcore_encrypted.{ip}.0"


@pytest.mark.parametrize(("comp", "suffix"), [(Compression.GZIP, "gz"), (Compression.ZSTD, "zst")])
def test_compressed_dump_kdh_after_data_truncated(run_server, comp: int, suffix: str) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    real = payload(7000, 4)
    padded = real + b"\0" * (8192 - len(real))  # the kernel pads to the block size
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(DATA, padded, 0)
        c.send(KDH, kdh(len(real), compression=comp))  # compressed dumps send the KDH last
        c.finish()
    name = srv.dumpdir / f"vmcore.{ip}.0.{suffix}"
    assert name.read_bytes() == real
    info = (srv.dumpdir / f"info.{ip}.0").read_text()
    assert f"  Compression: {comp.name.lower()}\n" in info
    assert info.endswith("Dump complete\n")


def test_hole_gives_dump_incomplete_and_error_handler(run_server, tmp_path: Path) -> None:
    script, out = handler_script(tmp_path)
    srv = run_server(handler=script)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, kdh(10_000))
        c.send(DATA, b"a" * 4000, 0)
        c.send(DATA, b"b" * 4000, 6000)
        c.finish()
    info = (srv.dumpdir / f"info.{ip}.0").read_text()
    assert info.endswith("Dump incomplete: 2000 bytes missing at 0xfa0-0x1770\n")
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out)[0][0] == "error"


def test_bad_kdh_too_small_is_recorded(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, b"short")  # acked before its size is checked, as netdumpd
        c.dump(b"d" * 100)
    info = (srv.dumpdir / f"info.{ip}.0").read_text()
    assert (
        info == f"Dump from {ip} [{ip}]\nBad KDH: packet too small\n"
    )  # the table of endings: failed


def test_per_host_limit_refuses_herald(run_server) -> None:
    srv = run_server(max_dumps=3)
    ip = free_loopback((20024,))
    for i in range(3):
        (srv.dumpdir / f"info.{ip}.{i}").write_text("taken")
    with DumpClient(ip, srv.ip, retries=4) as c, pytest.raises(ClientTimeout):
        c.herald()
    assert not list(srv.dumpdir.glob(f"vmcore.{ip}.*"))


def test_bounds_hint_and_lowest_free_index(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    d = srv.dumpdir
    (d / f"bounds.{ip}").write_text("5\n")
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.dump(b"1" * 10)
    assert (d / f"vmcore.{ip}.5").exists()
    (d / f"bounds.{ip}").write_text("5000\n")  # out of range: fall back to the scan
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.dump(b"2" * 10)
    assert (d / f"vmcore.{ip}.0").read_bytes() == b"2" * 10


def test_jumbo_datagrams(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    data = payload(500_000, 9)
    with DumpClient(ip, srv.ip, payload=65507 - 24) as c:
        c.herald()
        c.dump(data, kdh(len(data)))
    assert (srv.dumpdir / f"vmcore.{ip}.0").read_bytes() == data


@pytest.mark.parametrize("batch", [True, False])
def test_both_io_paths_through_a_lossy_relay(run_server, batch: bool) -> None:
    srv = run_server(batch=batch)
    relay_ip = free_loopback((20023, 20024))
    client_ip = free_loopback((20024,), avoid={relay_ip})
    data = payload(200_000, 11)
    with (
        Relay(relay_ip, client_ip, srv.ip, loss=0.03, duplicate=0.03, seed=5),
        DumpClient(client_ip, relay_ip, rto=0.02, retries=200) as c,
    ):
        c.herald()
        c.dump(data, kdh(len(data)))
    assert (srv.dumpdir / f"vmcore.{relay_ip}.0").read_bytes() == data


def test_key_over_several_packets_lands_whole(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    key = bytes([2]) + bytes(range(32)) + (2048).to_bytes(4, "big") + payload(2048, 12)
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(KDH, kdh(3000, dumpkeysize=len(key)))  # the seed's order: KDH, then key
        c.send(EKCD_KEY, key)  # 2085 bytes: two packets at MTU 1500
        c.dump(b"e" * 3000)
    assert (srv.dumpdir / f"key.{ip}.0").read_bytes() == key
    assert file_mode(srv.dumpdir / f"key.{ip}.0") == 0o400
    assert (srv.dumpdir / f"vmcore_encrypted.{ip}.0").read_bytes() == b"e" * 3000


def test_offset_beyond_any_file_is_a_write_error_not_a_crash(
    run_server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script, out = handler_script(tmp_path)
    srv = run_server(handler=script)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip, retries=5) as c:
        c.herald()
        c.send(DATA, b"x" * 100, 1 << 63)
        with pytest.raises(ClientTimeout):
            c.dump(b"y" * 100)
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out)[0][0] == "error"
    info = (srv.dumpdir / f"info.{ip}.0").read_text()
    assert info.endswith(
        "Dump unsuccessful: write error @ offset 8000000000000000: File too large\n"
    )
    assert not [r for r in caplog.records if r.exc_info]


def test_handler_paths_name_the_dump_subdirectory(run_server, tmp_path: Path) -> None:
    dumpdir = tmp_path / "crash"
    (dumpdir / "rack1" / "hostA").mkdir(parents=True)
    script, out = handler_script(tmp_path)
    srv = run_server(dumpdir, handler=script)
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald(b"rack1/hostA")
        c.dump(b"h" * 10)
    wait_for(lambda: len(handler_calls(out)) == 1)
    assert handler_calls(out)[0][3:] == [f"rack1/hostA/info.{ip}.0", f"rack1/hostA/vmcore.{ip}.0"]


def test_unwritable_herald_directory_falls_back_to_default(run_server, tmp_path: Path) -> None:
    dumpdir = tmp_path / "crash"
    (dumpdir / "full").mkdir(parents=True)
    srv = run_server(dumpdir, max_dumps=2)
    ip = free_loopback((20024,))
    for i in range(2):
        (dumpdir / "full" / f"info.{ip}.{i}").write_text("")
    with DumpClient(ip, srv.ip) as c:
        c.herald(b"full")  # every index there is taken: netdumpd retries in the default path
        c.dump(b"f" * 10)
    assert (dumpdir / f"vmcore.{ip}.0").read_bytes() == b"f" * 10


def test_unknown_kdh_version_is_read_as_v4(run_server) -> None:
    srv = run_server()
    ip = free_loopback((20024,))
    header = bytearray(kdh(100))
    header[32:36] = (7).to_bytes(4, "big")
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.dump(b"v" * 100, bytes(header))
    info = (srv.dumpdir / f"info.{ip}.0").read_text()
    assert "  Hostname: crashy\n" in info and "  Header Parity Check: Fail\n" in info
    assert info.endswith("Dump complete\n")
