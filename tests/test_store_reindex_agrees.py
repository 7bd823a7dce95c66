"""Reindex reads back from the files what the live catalogue recorded, field by field."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from debugnet.catalogue import ListQuery, open_catalogue
from debugnet.catalogue.files import scan
from debugnet.netdump.send import send_dump
from tests.dumpclient import DATA, EKCD_KEY, KDH, ClientTimeout, DumpClient
from tests.dumpdirs import trap_minidump
from tests.netutil import free_loopback
from tests.serverutil import (
    Running,
    fill_disk_at,
    kdh,
    record_when,
    servers_on,
    signed,
    wait_for,
)

PORT = 20127
FIELDS = (
    "state",
    "reason",
    "bytes",
    "files",
    "compression",
    "encrypted",
    "signature",
    "length",
    "panic",
    "hostname",
    "version_string",
    "parity_ok",
    "architecture",
    "architecture_version",
    "dumptime",
    "ip",
    "host",
    "index",
    "path",
    "layout",
)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    yield from servers_on(tmp_path, PORT)


def diff(srv: Running) -> dict[str, dict[str, tuple[object, object]]]:
    cat = open_catalogue(srv.dumpdir)
    try:
        live = {r.id: r for r in cat.dumps(ListQuery())}
    finally:
        cat.close()
    files = {r.id: r for r in scan(srv.dumpdir)}
    out: dict[str, dict[str, tuple[object, object]]] = {}
    for i in sorted(set(live) | set(files)):
        a, b = live.get(i), files.get(i)
        if a is None or b is None:
            out[i] = {"missing": (a is None, b is None)}
            continue
        da, db = dataclasses.asdict(a), dataclasses.asdict(b)
        da["files"], db["files"] = sorted(da["files"]), sorted(db["files"])  # order is not said
        d = {f: (da[f], db[f]) for f in FIELDS if da[f] != db[f]}
        if d:
            out[i] = d
    return out


def test_reindex_reads_back_every_field_the_live_catalogue_recorded(
    serve: Callable[..., Running],
) -> None:
    """Complete, compressed, encrypted, KDH after data, no KDH, bad KDH, no data, holes,
    a key with a compressed KDH, two differing KDHs: reindex changes no field."""
    srv = serve()
    ip = free_loopback((20024,))
    n = 0

    def done() -> None:
        nonlocal n
        record_when(srv.dumpdir, f"{ip}.{n}", signed)
        wait_for(lambda: srv.server.active_sessions() == 0)
        n += 1

    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT)
    done()
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, compress="gzip")
    done()
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, key=b"\x01" * 512)
    done()
    send_dump(
        srv.ip, trap_minidump(), client=ip, server_port=PORT, compress="zstd", kdh_after_data=True
    )
    done()
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # no KDH
        c.herald()
        c.send(DATA, b"x" * 3000, 0)
        c.finish()
    done()
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # bad KDH
        c.herald()
        c.send(KDH, b"short")
        c.send(DATA, b"x" * 100, 0)
        c.finish()
    done()
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # no data
        c.herald()
        c.send(KDH, kdh(3000))
        c.finish()
    done()
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # holes
        c.herald()
        c.send(KDH, kdh(3000))
        c.send(DATA, b"a" * 1000, 0)
        c.finish()
    done()
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # key only, encrypted kdh
        c.herald()
        c.send(EKCD_KEY, b"\x02" * 300)
        c.send(KDH, kdh(2000, compression=1))
        c.send(DATA, b"a" * 2000, 0)
        c.finish()
    done()
    with DumpClient(ip, srv.ip, server_port=PORT) as c:  # two differing KDHs
        c.herald()
        c.send(KDH, kdh(2000))
        c.send(DATA, b"a" * 2000, 0)
        c.send(KDH, kdh(2000, panicstring="other"))
        c.finish()
    done()
    assert diff(srv) == {}


def test_reindex_agrees_after_a_write_error_and_in_the_savecore_layout(
    serve: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk fails a dump; savecore's names, encrypted and compressed, read back too."""
    srv = serve(layout="savecore")
    ip = free_loopback((20024,))
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, compress="gzip")
    record_when(srv.dumpdir, f"{ip}.0", signed)
    wait_for(lambda: srv.server.active_sessions() == 0)
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, key=b"\x01" * 512)
    record_when(srv.dumpdir, f"{ip}.1", signed)
    wait_for(lambda: srv.server.active_sessions() == 0)
    fill_disk_at(monkeypatch, 4096)
    with DumpClient(ip, srv.ip, server_port=PORT, retries=3) as c:
        c.herald()
        c.send(KDH, kdh(300_000))
        with pytest.raises(ClientTimeout):  # the failed dump's session acks no more
            c.send(DATA, b"w" * 300_000, 0)
    record_when(srv.dumpdir, f"{ip}.2", signed)
    assert diff(srv) == {}


def test_savecore_names_a_compressed_encrypted_core_as_decryptcore_reads_it(
    serve: Callable[..., Running],
) -> None:
    """savecore(8) and ``decryptcore -n N`` use ``vmcore_encrypted.N`` with no suffix even
    when the dump is compressed (DUMPTOOLS.md); the compression is the info file's."""
    srv = serve(layout="savecore")
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip, server_port=PORT) as c:
        c.herald()
        c.send(EKCD_KEY, b"\x02" * 300)
        c.send(KDH, kdh(2000, compression=1, dumpkeysize=300))
        c.send(DATA, b"a" * 2000, 0)
        c.finish()
    r = record_when(srv.dumpdir, f"{ip}.0", signed)
    assert sorted(r.files) == [f"{ip}/info.0", f"{ip}/key.0", f"{ip}/vmcore_encrypted.0"]
    assert (srv.dumpdir / ip / "vmcore_encrypted.0").stat().st_size == 2000
    assert r.compression == "gzip" and r.encrypted
    assert diff(srv) == {}


def test_reindex_reads_the_received_core_not_an_extracted_one(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    """``dumps extract`` writes ``vmcore.N`` beside ``vmcore.N.gz``; reindex still takes the
    received core for bytes, compression and signature, as the live catalogue did."""
    from debugnet.catalogue import actions
    from debugnet.catalogue.dumpfiles import LocalFiles

    srv = serve()
    ip = free_loopback((20024,))
    send_dump(srv.ip, trap_minidump(), client=ip, server_port=PORT, compress="gzip")
    r = record_when(srv.dumpdir, f"{ip}.0", signed)
    files = LocalFiles(srv.dumpdir)
    actions.extract(files, r, None, False)
    cat = open_catalogue(srv.dumpdir)
    try:
        cat.update(r.id, files=files.present(r))  # as `debugnet dumps extract` does
    finally:
        cat.close()
    assert diff(srv) == {}
