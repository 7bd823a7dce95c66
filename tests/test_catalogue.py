"""The catalogue: records, queries, groups and merges, the writer thread, reindex from files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from debugnet.catalogue import (
    CatalogueWriter,
    DumpRecord,
    DumpState,
    Layout,
    ListQuery,
    open_catalogue,
    reindex,
    split_id,
)
from debugnet.catalogue.sqlbase import CatalogueError, SqlCatalogue
from debugnet.catalogue.sqlite import catalogue_path
from debugnet.errors import InvalidArgument
from tests.dumpdirs import write_netdumpd, write_savecore
from tests.records import every_field_set, rec

TRAP = "Fatal trap NUM: page fault while in kernel mode in tcp_output"


@pytest.fixture
def cat(tmp_path: Path) -> SqlCatalogue:
    c = open_catalogue(tmp_path)
    assert isinstance(c, SqlCatalogue)
    return c


def test_put_get_round_trip(cat: SqlCatalogue) -> None:
    r = every_field_set(signature_version=1)
    cat.put(r)
    assert r.id == "rack1/db3.4"
    assert cat.get("rack1/db3.4") == r
    assert cat.get("db3.4") is None


def test_ids() -> None:
    assert split_id("db3.4") == ("", "db3", 4)
    assert split_id("a/b/db3.example.4") == ("a/b", "db3.example", 4)
    with pytest.raises(InvalidArgument):
        split_id("db3")


def test_list_newest_first_with_filters(cat: SqlCatalogue) -> None:
    for i in range(10):
        cat.put(
            rec(
                f"h{i % 3}",
                i,
                100.0 + i,
                state=DumpState.COMPLETE if i % 2 else DumpState.FAILED,
                signature=f"s{i % 2}",
            )
        )
    ids = [r.id for r in cat.dumps(ListQuery())]
    assert ids[0] == "h0.9" and ids[-1] == "h0.0" and len(ids) == 10
    assert [r.index for r in cat.dumps(ListQuery(host="h1"))] == [7, 4, 1]
    assert [r.index for r in cat.dumps(ListQuery(since=107.0))] == [9, 8, 7]
    assert [r.index for r in cat.dumps(ListQuery(state=DumpState.FAILED, limit=2))] == [8, 6]
    assert [r.index for r in cat.dumps(ListQuery(signature="s1", host="h0"))] == [9, 3]


def test_update_and_remove(cat: SqlCatalogue) -> None:
    cat.put(rec("h", 0, 1.0))
    cat.update("h.0", state=DumpState.COMPLETE, bytes=99)
    got = cat.get("h.0")
    assert got is not None and got.state is DumpState.COMPLETE and got.bytes == 99
    with pytest.raises(InvalidArgument):
        cat.update("h.0", host="x")
    assert cat.remove(["h.0", "nope.1"]) == 1
    assert cat.count() == 0


def test_groups_and_merges(cat: SqlCatalogue) -> None:
    cat.put(rec("a", 0, 10.0, signature="panic A"))
    cat.put(rec("b", 0, 20.0, signature="panic A"))
    cat.put(rec("a", 1, 30.0, signature="panic B"))
    cat.put(rec("c", 0, 40.0, signature="panic C"))
    cat.put(rec("c", 1, 50.0))  # still receiving: no signature, no group
    groups = cat.groups()
    assert [(g.signature, g.count, g.latest) for g in groups] == [
        ("panic C", 1, "c.0"),
        ("panic B", 1, "a.1"),
        ("panic A", 2, "b.0"),
    ]
    assert groups[2].hosts == ["a", "b"] and groups[2].first_seen == 10.0
    assert cat.merge("panic A", "panic B") == "panic A"
    merged = {g.signature: g for g in cat.groups()}
    assert set(merged) == {"panic A", "panic C"}
    a = merged["panic A"]
    assert (a.count, a.latest, a.last_seen, a.titles) == (3, "a.1", 30.0, ["panic A", "panic B"])
    # merging into a merged title keeps one canonical; filters follow merges
    cat.merge("panic C", "panic B")
    assert [g.signature for g in cat.groups()] == ["panic C"]
    assert len(cat.dumps(ListQuery(signature="panic A"))) == 4
    assert [g.count for g in cat.groups(since=25.0)] == [2]


def test_receiving_per_collector(cat: SqlCatalogue) -> None:
    cat.put(rec("a", 0, 1.0, collector="c1"))
    cat.put(rec("b", 0, 2.0, collector="c2"))
    cat.put(rec("c", 0, 3.0, collector="c1", state=DumpState.COMPLETE))
    assert [r.id for r in cat.receiving("c1")] == ["a.0"]


def test_schema_is_versioned_and_newer_refused(tmp_path: Path) -> None:
    open_catalogue(tmp_path).close()
    db = sqlite3.connect(catalogue_path(tmp_path))
    assert db.execute("SELECT value FROM catalogue_meta").fetchone() == ("1",)
    db.execute("UPDATE catalogue_meta SET value = '99'")
    db.commit()
    db.close()
    with pytest.raises(CatalogueError, match="newer"):
        open_catalogue(tmp_path)


def test_writer_thread_writes_in_order(tmp_path: Path) -> None:
    writer = CatalogueWriter(open_catalogue(tmp_path))
    for i in range(500):
        writer.submit(lambda c, i=i: c.put(rec("h", i, float(i))))
    writer.submit(lambda c: c.update("h.3", state=DumpState.COMPLETE))
    writer.submit(lambda c: c.update("h.4", host="bad"))  # fails; later writes still happen
    writer.submit(lambda c: c.remove(["h.0"]))
    assert writer.flush()
    assert writer.failures == 1
    writer.close()
    cat = open_catalogue(tmp_path)
    assert cat.count() == 499
    got = cat.get("h.3")
    assert got is not None and got.state is DumpState.COMPLETE


def test_reindex_a_netdumpd_directory_made_by_hand(tmp_path: Path) -> None:
    write_netdumpd(tmp_path, "db3", 0)
    write_netdumpd(tmp_path, "db3", 1, end="Dump incomplete: client timed out", panic="x 12")
    write_netdumpd(tmp_path, "db4", 0, compress=True)
    write_netdumpd(tmp_path / "rack1", "db3", 0, end="", core=b"not a minidump")
    (tmp_path / "vmcore.db3.last").symlink_to("vmcore.db3.1")
    (tmp_path / "info.db3.last").symlink_to("info.db3.1")
    cat = open_catalogue(tmp_path)
    assert reindex(cat, tmp_path) == 4
    by_id = {r.id: r for r in cat.dumps(ListQuery())}
    assert set(by_id) == {"db3.0", "db3.1", "db4.0", "rack1/db3.0"}
    d = by_id["db3.0"]
    assert (d.state, d.ip, d.panic, d.signature) == (
        DumpState.COMPLETE,
        "192.0.2.7",
        "page fault",
        TRAP,
    )
    assert d.files == ["info.db3.0", "vmcore.db3.0"] and d.layout == Layout.NETDUMPD
    assert d.length == d.bytes and d.architecture == "amd64"
    assert (by_id["db3.1"].state, by_id["db3.1"].reason) == (DumpState.INCOMPLETE, "timed out")
    assert by_id["db4.0"].signature == TRAP and by_id["db4.0"].compression == "gzip"
    assert by_id["db4.0"].files == ["info.db4.0", "vmcore.db4.0.gz"]
    r = by_id["rack1/db3.0"]
    assert (r.state, r.reason, r.signature) == (DumpState.INCOMPLETE, "no end line", "page fault")
    assert r.files == ["rack1/info.db3.0", "rack1/vmcore.db3.0"]


def test_reindex_savecore_layouts(tmp_path: Path) -> None:
    write_savecore(tmp_path, 0)  # flat, as /var/crash
    write_savecore(tmp_path / "db5", 2, status="bad")  # serve --layout savecore
    write_savecore(tmp_path / "rack1" / "db6", 0, core=b"\0" * 100)
    cat = open_catalogue(tmp_path)
    assert reindex(cat, tmp_path) == 3
    by_id = {r.id: r for r in cat.dumps(ListQuery())}
    assert set(by_id) == {"web1.0", "db5.2", "rack1/db6.0"}
    assert by_id["web1.0"].files == ["info.0", "vmcore.0"]
    assert by_id["web1.0"].signature == TRAP and by_id["web1.0"].layout == Layout.SAVECORE
    assert by_id["db5.2"].state is DumpState.INCOMPLETE
    assert by_id["db5.2"].files == ["db5/info.2", "db5/vmcore.2"]
    assert by_id["rack1/db6.0"].signature == "general protection fault"
    assert by_id["rack1/db6.0"].directory == "rack1/db6"


def test_reindex_keeps_what_only_the_catalogue_knew(tmp_path: Path) -> None:
    write_netdumpd(tmp_path, "db3", 0, end="")
    write_netdumpd(tmp_path, "db3", 1)
    cat = open_catalogue(tmp_path)
    cat.put(rec("db3", 0, 5.0, collector="c1", ip="192.0.2.99"))
    cat.put(rec("db3", 1, 6.0, handler="success", handler_status=0, state=DumpState.COMPLETE))
    cat.put(rec("gone", 0, 7.0))
    cat.merge("a", "b")
    assert reindex(cat, tmp_path) == 2
    r0, r1 = cat.get("db3.0"), cat.get("db3.1")
    assert r0 is not None and r1 is not None and cat.get("gone.0") is None
    assert (r0.state, r0.collector, r0.started) == (DumpState.RECEIVING, "c1", 5.0)
    assert (r1.handler, r1.handler_status, r1.started) == ("success", 0, 6.0)
    assert cat.signatures_of("b") == ["a", "b"]


def test_columns_follow_the_record_fields() -> None:
    from dataclasses import fields

    from debugnet.catalogue import sql

    assert [f for f, _, _ in sql.COLUMNS] == [f.name for f in fields(DumpRecord)]


def test_bytes_that_are_not_utf8_are_stored_replaced(cat: SqlCatalogue) -> None:
    # KDH strings keep undecodable bytes as surrogates (surrogateescape)
    panic = b"bad \xee byte".decode("utf-8", "surrogateescape")
    cat.put(rec("h", 0, 1.0, panic=panic, files=[f"info.{panic}"]))
    got = cat.get("h.0")
    assert got is not None and got.panic == "bad \ufffd byte"
    assert got.files == ["info.bad \ufffd byte"]


def test_the_catalogue_file_is_private(tmp_path: Path) -> None:
    import os

    open_catalogue(tmp_path).close()
    assert os.stat(catalogue_path(tmp_path)).st_mode & 0o777 == 0o600
