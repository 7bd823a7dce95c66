"""The PostgreSQL catalogue against a real PostgreSQL 15: schema, claims, lost connections, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from debugnet.catalogue import CatalogueWriter, DumpState, ListQuery, open_catalogue_at
from debugnet.catalogue.postgres import PostgresCatalogue, redact
from debugnet.catalogue.sqlbase import CatalogueError
from tests.pgserver import PgCluster, pg_cluster, pg_url
from tests.records import every_field_set, rec

__all__ = ["pg_cluster", "pg_url"]

pytestmark = pytest.mark.slow


@pytest.fixture
def pg(pg_url: str) -> PostgresCatalogue:
    cat = PostgresCatalogue(pg_url, migrate=True)
    yield cat  # type: ignore[misc]
    cat.close()


def test_unmigrated_database_is_refused_with_the_command_to_run(pg_url: str) -> None:
    with pytest.raises(CatalogueError, match="dumps --catalogue URL migrate"):
        PostgresCatalogue(pg_url)
    PostgresCatalogue(pg_url, migrate=True).close()
    PostgresCatalogue(pg_url).close()  # now it opens


def test_records_round_trip_and_queries(pg: PostgresCatalogue) -> None:
    r = every_field_set()
    pg.put(r)
    assert pg.get("rack1/db3.4") == r
    pg.put(rec("db3", 5, 200.0, signature="y", collector="c2"))
    pg.put(rec("web1", 0, 300.0, signature="x", collector="c1", state=DumpState.COMPLETE))
    assert [d.id for d in pg.dumps(ListQuery())] == ["web1.0", "db3.5", "rack1/db3.4"]
    assert [d.id for d in pg.dumps(ListQuery(host="db3", limit=1))] == ["db3.5"]
    assert pg.merge("x", "y") == "x"
    (group,) = pg.groups()
    assert (group.count, group.hosts, group.latest) == (3, ["db3", "web1"], "web1.0")
    pg.update("db3.5", state=DumpState.RECEIVING)
    assert [d.id for d in pg.receiving("c2")] == ["db3.5"]
    assert pg.receiving("c1") == []
    assert pg.remove(["db3.5", "nope.1"]) == 1
    assert pg.highest_index("rack1", "db3") == 4
    assert pg.highest_index("", "db3") is None


def test_claims_never_give_one_index_twice(pg_url: str) -> None:
    """Four collectors, each with its own connection, claim 25 dumps of one host each."""
    PostgresCatalogue(pg_url, migrate=True).close()
    got: list[list[int]] = []
    lock = threading.Lock()

    def collector(name: str) -> None:
        cat = PostgresCatalogue(pg_url)
        mine = []
        for _ in range(25):
            n = (cat.highest_index("p", "h") or -1) + 1
            while not cat.claim(rec("h", n, 1.0, path="p", collector=name)):
                n += 1
            mine.append(n)
        cat.close()
        with lock:
            got.append(mine)

    threads = [threading.Thread(target=collector, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = sorted(n for mine in got for n in mine)
    assert every == list(range(100))
    cat = PostgresCatalogue(pg_url)
    assert not cat.claim(rec("h", 7, 2.0, path="p", collector="late"))
    assert cat.get("p/h.7").collector != "late"  # type: ignore[union-attr]
    cat.close()


def test_concurrent_migrations_run_once(pg_url: str) -> None:
    errors: list[Exception] = []

    def migrate() -> None:
        try:
            PostgresCatalogue(pg_url, migrate=True).close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_writes_survive_a_database_restart(pg_cluster: PgCluster, pg_url: str) -> None:
    """Writes queued while PostgreSQL is down land once it is back; none is dropped."""
    writer = CatalogueWriter(PostgresCatalogue(pg_url, migrate=True, connect_timeout=2.0))
    writer.submit(lambda cat: cat.put(rec("h", 0, 1.0, collector="c")))
    assert writer.flush()
    pg_cluster.stop()
    try:
        writer.submit(lambda cat: cat.update("h.0", bytes=4096))
        writer.submit(lambda cat: cat.put(rec("h", 1, 2.0, collector="c")))
        assert not writer.flush(timeout=0.5)  # retrying with backoff, not failing
    finally:
        pg_cluster.start()
    assert writer.flush(timeout=60)
    assert writer.failures == 0
    cat = writer.catalogue
    assert isinstance(cat, PostgresCatalogue) and cat.reconnects >= 1
    assert cat.get("h.0").bytes == 4096  # type: ignore[union-attr]
    assert cat.get("h.1") is not None
    writer.close()


def test_unreachable_database_gives_up_after_retry_for(pg_url: str) -> None:
    cat = PostgresCatalogue(pg_url, migrate=True, retry_for=0.0)
    cat._db.close()  # the connection is gone and reconnecting is not allowed time
    with pytest.raises(CatalogueError, match="unreachable"):
        cat.count()


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://u:secret@db:5432/x") == "postgresql://u@db:5432/x"
    assert redact("postgresql:///x") == "postgresql:///x"


def _dumps(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "debugnet", "dumps", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_cli_migrate_then_list_shows_the_collector(pg_url: str, tmp_path: Path) -> None:
    r = _dumps("--catalogue", pg_url, "list")
    assert r.returncode != 0 and "migrate" in r.stderr and len(r.stderr.splitlines()) == 1
    r = _dumps("--catalogue", pg_url, "migrate")
    assert r.returncode == 0, r.stderr
    cat = open_catalogue_at(pg_url, tmp_path)
    cat.put(rec("db3", 2, 5.0, collector="rack7", state=DumpState.COMPLETE))
    cat.close()
    r = _dumps("--catalogue", pg_url, "list", "--json")
    assert r.returncode == 0, r.stderr
    (doc,) = json.loads(r.stdout)
    assert (doc["id"], doc["collector"], doc["state"]) == ("db3.2", "rack7", "complete")
