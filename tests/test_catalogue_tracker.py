"""Records written as a dump arrives, and interrupted dumps recovered at start-up."""

from __future__ import annotations

from pathlib import Path

from debugnet.catalogue import Catalogue, CatalogueWriter, DumpRecord, DumpState, open_catalogue
from debugnet.catalogue.tracker import DumpHandle, recover_interrupted
from debugnet.triage.info import parse_info
from debugnet.wire.kdh import KernelDumpHeader
from tests.dumpdirs import netdumpd_info, trap_minidump

TRAP = "Fatal trap NUM: page fault while in kernel mode in tcp_output"


def test_a_dump_recorded_from_start_to_end(tmp_path: Path) -> None:
    writer = CatalogueWriter(open_catalogue(tmp_path))
    core = tmp_path / "vmcore.db3.0"
    info = tmp_path / "info.db3.0"
    record = DumpRecord(host="db3", index=0, started=1000.0, ip="192.0.2.7", collector="c1")
    handle = DumpHandle(writer, tmp_path, record, interval=1.0)
    handle.files([info, core])
    assert writer.flush()
    got = writer.catalogue.get("db3.0")
    assert (
        got is not None
        and got.state is DumpState.RECEIVING
        and got.files
        == [
            "info.db3.0",
            "vmcore.db3.0",
        ]
    )
    handle.kdh(
        KernelDumpHeader.build(
            architecture="amd64",
            hostname="db3.example.org",
            versionstring="FreeBSD 14\n",
            panicstring="page fault",
            dumplength=len(trap_minidump()),
            dumptime=1_700_000_000,
        )
    )
    handle.data(100, 1000.5)  # within the interval: not stored yet
    assert writer.flush()
    got = writer.catalogue.get("db3.0")
    assert got is not None and got.bytes == 0 and got.panic == "page fault"
    handle.data(4096, 1001.5)
    assert writer.flush()
    got = writer.catalogue.get("db3.0")
    assert got is not None and (got.bytes, got.last_data) == (4096, 1001.5)
    core.write_bytes(trap_minidump())
    handle.end(DumpState.COMPLETE, None, "success", len(trap_minidump()), 1002.0)
    handle.handler_exited(3)
    assert writer.flush()
    got = writer.catalogue.get("db3.0")
    assert got is not None
    assert (got.state, got.reason, got.ended, got.handler, got.handler_status) == (
        DumpState.COMPLETE,
        None,
        1002.0,
        "success",
        3,
    )
    assert (got.signature, got.signature_version) == (TRAP, 1)
    assert got.version_string == "FreeBSD 14" and got.architecture == "amd64"
    writer.close()


def test_a_bad_kdh_leaves_the_dump_incomplete(tmp_path: Path) -> None:
    writer = CatalogueWriter(open_catalogue(tmp_path))
    handle = DumpHandle(writer, tmp_path, DumpRecord(host="h", index=0, started=1.0), 1.0)
    handle.bad_kdh()
    handle.end(DumpState.COMPLETE, None, "success", 10, 2.0)
    assert writer.flush()
    got = writer.catalogue.get("h.0")
    assert got is not None and (got.state, got.reason) == (DumpState.INCOMPLETE, "bad KDH")
    assert got.signature == "(no panic string)"
    writer.close()


def test_interrupted_dumps_are_marked_for_this_collector_only(tmp_path: Path) -> None:
    cat = open_catalogue(tmp_path)
    for host, collector in (("a", "c1"), ("b", "c2")):
        (tmp_path / f"info.{host}.0").write_bytes(netdumpd_info(host, "192.0.2.1", "p", "", 10))
        cat.put(
            DumpRecord(
                host=host,
                index=0,
                started=1.0,
                collector=collector,
                files=[f"vmcore.{host}.0", f"info.{host}.0"],
            )
        )
    marked = recover_interrupted(cat, tmp_path, "c1", now=5.0)
    assert [r.id for r in marked] == ["a.0"]
    a, b = cat.get("a.0"), cat.get("b.0")
    assert a is not None and b is not None
    assert (a.state, a.reason, a.ended, a.handler) == (
        DumpState.INCOMPLETE,
        "interrupted",
        5.0,
        "error",
    )
    assert b.state is DumpState.RECEIVING
    text = (tmp_path / "info.a.0").read_bytes()
    assert text.endswith(b"Dump incomplete: server stopped while receiving\n")
    assert parse_info(text).outcome.reason == "interrupted"
    assert recover_interrupted(cat, tmp_path, "c1", now=6.0) == []


def test_a_dump_whose_info_file_ended_takes_its_state_from_the_file(tmp_path: Path) -> None:
    cat = open_catalogue(tmp_path)
    end = "Dump unsuccessful: write error @ offset 00010000: No space left on device"
    (tmp_path / "info.a.0").write_bytes(netdumpd_info("a", "192.0.2.1", "p", end, 10))
    cat.put(DumpRecord(host="a", index=0, started=1.0, files=["info.a.0", "vmcore.a.0"]))
    assert recover_interrupted(cat, tmp_path, "", now=5.0) == []  # its handler has run
    a = cat.get("a.0")
    assert a is not None and (a.state, a.reason) == (
        DumpState.FAILED,
        "write error @ offset 00010000: No space left on device",
    )
    assert (tmp_path / "info.a.0").read_text().endswith(end + "\n")


def test_writes_refused_by_a_full_database_are_retried(tmp_path: Path) -> None:
    from debugnet.catalogue.base import CatalogueUnavailable

    writer = CatalogueWriter(open_catalogue(tmp_path))
    full = [True]

    def put_when_space(cat: Catalogue) -> None:
        if full[0]:
            raise CatalogueUnavailable("catalogue: database or disk is full")
        cat.put(DumpRecord(host="h", index=0, started=1.0))

    writer.submit(put_when_space)
    assert writer.flush()
    assert writer.failures == 1 and writer.catalogue.get("h.0") is None
    full[0] = False
    writer.submit(lambda cat: None)  # the next write retries the failed one first
    assert writer.flush()
    assert writer.catalogue.get("h.0") is not None
    writer.close()
