"""The dashboard over a shared catalogue: PostgreSQL 15 (real, tests/pgserver.py) and an
SQLite file given by path, with records from two collectors.

The route tests (test_web_routes.py) run every page over both backends with
dumps the real server received; these add what only synthetic records pin
down: UTC day boundaries, case in the search, the cache seeing other
connections' commits, a role without privileges, and the processes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("psycopg")
from starlette.testclient import TestClient

from debugnet.catalogue import Catalogue, DumpRecord, DumpState, open_catalogue_at
from debugnet.catalogue.postgres import PostgresCatalogue
from debugnet.web.app import WebConfig, create_app
from debugnet.web.auth import Auth
from debugnet.web.catalogue_source import CatalogueSource, _PostgresReader
from debugnet.web.source import DumpFilter
from tests.browser import free_tcp_port, free_udp_port, start_cli, stop
from tests.netutil import free_loopback
from tests.pgserver import PgCluster, pg_cluster, pg_url

__all__ = ["pg_cluster", "pg_url"]

DAY = 86400
# Three UTC days ago, so every day below is inside the dashboard's 30.
D = (int(time.time()) // DAY - 3) * DAY


def label(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def rec(host: str, index: int, started: float, **kw: object) -> DumpRecord:
    kw.setdefault("state", DumpState.COMPLETE)
    kw.setdefault("collector", "east" if host.startswith("db") else "west")
    return DumpRecord(host=host, index=index, started=started, **kw)  # type: ignore[arg-type]


RECORDS = [
    # Near midnight: a cast that rounds (PostgreSQL's) moves 0.6 and 0.99 of a day on.
    rec("db1", 0, D - 0.25, panic="Page Fault in TCP_output", signature="tcp"),
    rec("db1", 1, D + 0.6 * DAY, panic="page fault in zio_done", signature="zio"),
    rec("db1", 2, D + DAY - 0.1, panic="spin lock held", state=DumpState.INCOMPLETE),
    rec("web1", 0, D + DAY, panic="100% busy", signature="tcp"),
    rec("web1", 1, D + DAY + 30, panic="100 x", state=DumpState.FAILED, signature="zio"),
]


@pytest.fixture(params=["sqlite-file", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A catalogue given by ``--catalogue``: an SQLite file by path, or a PostgreSQL URL."""
    if request.param == "sqlite-file":
        return str(tmp_path / "shared.sqlite")
    pg: str = request.getfixturevalue("pg_url")
    PostgresCatalogue(pg, migrate=True).close()
    return pg


@pytest.fixture
def writer(url: str) -> Iterator[Catalogue]:
    """Another connection to the same catalogue: a collector writing."""
    cat = open_catalogue_at(url, None)
    for r in RECORDS:
        cat.put(r)
    yield cat
    cat.close()


@pytest.fixture
def source(url: str, writer: Catalogue) -> Iterator[CatalogueSource]:
    src = CatalogueSource.open_at(url, None)
    yield src
    src.close()


@pytest.fixture
def client(source: CatalogueSource) -> Iterator[TestClient]:
    with TestClient(create_app(WebConfig(source, Auth(None))), base_url="http://127.0.0.1") as c:
        yield c


def ids(client: TestClient, **params: object) -> list[str]:
    return [d["id"] for d in client.get("/api/dumps", params=params).json()["dumps"]]


def post(client: TestClient, page: str, action: str, **form: str) -> int:
    """A form's POST with the CSRF token of the page it is on."""
    m = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert m, f"no CSRF token on {page}"
    return client.post(action, data={"csrf": m.group(1), **form}).status_code


def test_days_split_at_utc_midnight(source: CatalogueSource) -> None:
    """Per-day counts floor the day: 14:24 and 23:59:59.9 stay on their day."""
    assert source.per_day(D - DAY) == {
        label(D - DAY): {"complete": 1},
        label(D): {"complete": 1, "incomplete": 1},
        label(D + DAY): {"complete": 1, "failed": 1},
    }
    assert source.per_day(D - DAY, key="host") == {
        label(D - DAY): {"db1": 1},
        label(D): {"db1": 2},
        label(D + DAY): {"web1": 2},
    }
    source.merge("tcp", "zio")
    assert source.per_day(D - DAY, key="signature") == {
        label(D - DAY): {"tcp": 1},
        label(D): {"tcp": 1},
        label(D + DAY): {"tcp": 2},
    }


def test_search_ignores_case_and_is_literal(client: TestClient) -> None:
    assert ids(client, q="page fault") == ["db1.1", "db1.0"]
    assert ids(client, q="tcp_OUTPUT") == ["db1.0"]
    assert ids(client, q="100%") == ["web1.0"]  # % is a character, not a wildcard
    assert ids(client, q="_") == ["db1.1", "db1.0"]
    html = client.get("/dumps", params={"q": "PAGE"}).text
    assert "2 shown of 2 matching" in html


def test_filters_paging_and_counts(client: TestClient, source: CatalogueSource) -> None:
    everything = ["web1.1", "web1.0", "db1.2", "db1.1", "db1.0"]
    assert ids(client) == everything
    assert ids(client, host="web1") == ["web1.1", "web1.0"]
    assert ids(client, state="incomplete") == ["db1.2"]
    assert ids(client, signature="zio") == ["web1.1", "db1.1"]
    source.merge("tcp", "zio")
    assert ids(client, signature="zio") == ["web1.1", "web1.0", "db1.1", "db1.0"]
    since, until = label(D), label(D + DAY)  # the dumps of day D only
    assert ids(client, since=since, until=until) == ["db1.2", "db1.1"]
    page = client.get("/api/dumps", params={"limit": 2, "offset": 2}).json()
    assert [d["id"] for d in page["dumps"]] == everything[2:4] and page["total"] == 5
    html = client.get("/dumps", params={"limit": 2, "host": "db1"}).text
    assert "2 shown of 3 matching" in html and 'id="older"' in html


def test_groups_hosts_and_collectors(client: TestClient) -> None:
    assert post(client, "/groups", "/groups/merge", a="tcp", b="zio") == 200
    (group,) = client.get("/api/groups").json()
    assert (group["signature"], group["count"], group["hosts"]) == ("tcp", 4, ["db1", "web1"])
    assert group["latest"] == "web1.1"
    hosts = client.get("/hosts").text
    assert hosts.index("web1") < hosts.index("db1")  # the latest first
    listing = client.get("/dumps").text
    cells = re.findall(r'<td class="hide-small collector">([^<]*)</td>', listing)
    assert cells == ["west", "west", "east", "east", "east"]
    page = client.get("/dumps/db1.2").text
    assert "<dt>collector</dt><dd>east</dd>" in page
    assert client.get("/api/dumps/web1.0").json()["collector"] == "west"


def test_no_local_directory(client: TestClient) -> None:
    """No --dir: no free-space card, no files to offer, and delete removes the record."""
    overview = client.get("/")
    assert overview.status_code == 200 and "free in the dump directory" not in overview.text
    assert '5</div><div class="l">dumps in the catalogue' in overview.text
    page = client.get("/dumps/db1.0").text
    assert "download" not in page
    assert post(client, "/dumps/db1.0", "/dumps/delete", id="db1.0") == 200
    assert client.get("/api/dumps/db1.0").status_code == 404
    assert client.get("/api/dumps").json()["total"] == 4


def test_cache_sees_other_connections(client: TestClient, writer: Catalogue) -> None:
    """Aggregates are cached per catalogue version: a collector's commit shows at once."""
    assert "db2" not in client.get("/hosts").text
    before = client.get("/groups").text
    writer.put(rec("db2", 0, time.time(), signature="fresh"))
    assert "db2" in client.get("/hosts").text
    assert "fresh" not in before and "fresh" in client.get("/groups").text
    writer.remove(["db2.0"])
    assert "db2" not in client.get("/hosts").text


def test_version_for_a_role_without_privileges(pg_cluster: PgCluster, pg_url: str) -> None:
    """A plain role reads the WAL position; where that is revoked, a short TTL instead."""
    import psycopg

    admin = PostgresCatalogue(pg_url, migrate=True)
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("DO $$ BEGIN CREATE ROLE dashboard LOGIN; EXCEPTION WHEN OTHERS THEN END $$")
        db.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO dashboard")
    reader_url = pg_url.replace("postgres@", "dashboard@")
    source = CatalogueSource.open_at(reader_url, None)
    reader = source._db
    assert isinstance(reader, _PostgresReader)
    first = reader.version()
    assert isinstance(first, str) and "/" in first  # an LSN such as 0/1A2B3C8
    assert reader.version() == first  # nothing committed: the cache holds
    admin.put(rec("db1", 0, D))
    assert reader.version() != first
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("REVOKE EXECUTE ON FUNCTION pg_current_wal_insert_lsn() FROM PUBLIC")
    assert isinstance(reader.version(), int)  # refused: the TTL's bucket
    assert [d["id"] for d in source.dumps(DumpFilter(), 10, 0)] == ["db1.0"]  # still reads
    source.close()
    admin.close()


def test_database_restart_is_a_503_then_reconnects(pg_cluster: PgCluster, pg_url: str) -> None:
    """A database down longer than the dashboard's retries: 503 with the reason, not a hang
    or a traceback; once it is back, the next page reconnects."""
    cat = PostgresCatalogue(pg_url, migrate=True)
    cat.put(rec("db1", 0, D, signature="tcp"))
    cat.close()
    source = CatalogueSource.open_at(pg_url, None, retry_for=0.5)
    with TestClient(create_app(WebConfig(source, Auth(None))), base_url="http://127.0.0.1") as c:
        assert ids(c) == ["db1.0"]
        pg_cluster.stop()
        try:
            for page in ("/api/dumps", "/", "/hosts"):
                r = c.get(page)
                assert r.status_code == 503 and "unreachable" in r.text, r.text
                assert len(r.text.strip().splitlines()) == 1
        finally:
            pg_cluster.start()
        # The first query after the outage is a merged signature's members: retried too.
        assert ids(c, signature="tcp") == ["db1.0"] and "db1" in c.get("/hosts").text
    source.close()


def test_web_process_over_postgresql(writer: Catalogue, url: str) -> None:
    """`debugnet web --catalogue URL` as an operator runs it, with no dump directory."""
    ip = free_loopback(ports=())
    port = free_tcp_port(ip)
    proc = start_cli(
        ["web", "--catalogue", url, "--bind", ip, "--port", str(port)], ready="dashboard at"
    )
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/api/dumps?host=db1") as r:
            body = json.load(r)
        assert body["total"] == 3
        assert {d["collector"] for d in body["dumps"]} == {"east"}
        with urllib.request.urlopen(f"http://{ip}:{port}/") as r:
            assert r.status == 200
    finally:
        stop(proc)


@pytest.mark.slow
def test_unreachable_catalogue_is_one_line_and_an_exit_status(pg_url: str) -> None:
    port = pg_url.split(":")[2].split("/")[0]
    for url, why in (
        ("postgresql://postgres@127.0.0.1:1/none", "catalogue postgresql://postgres@127.0.0.1:1"),
        (pg_url, "migrate"),  # reachable but never migrated
        (f"postgresql://postgres:secret@127.0.0.1:{port}/nosuchdb", "nosuchdb"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "debugnet", "web", "--catalogue", url, "--port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0], done.stderr
        assert "secret" not in done.stderr


def test_serve_web_shows_the_shared_catalogue(pg_url: str, tmp_path: Path) -> None:
    """`debugnet serve --catalogue URL --web`: the dashboard reads what the server wrote
    there, named by its collector id, and keeps no SQLite catalogue of its own."""
    PostgresCatalogue(pg_url, migrate=True).close()
    ip = free_loopback(ports=())
    udp, web = free_udp_port(ip), free_tcp_port(ip)
    dumpdir = tmp_path / "crash"
    args = ["serve", "--dir", str(dumpdir), "--bind", ip, "--port", str(udp), "--no-resolve"]
    args += ["--catalogue", pg_url, "--collector-id", "north", "--web", f"{ip}:{web}"]
    proc = start_cli(args, ready="dashboard at")
    try:
        client_ip = free_loopback(ports=(20024,), avoid={ip})
        send = [sys.executable, "-m", "debugnet", "send", "-s", ip, "--port", str(udp)]
        send += ["-c", client_ip, "--panic", "shared panic", "-"]
        subprocess.run(send, input=b"m" * 5000, check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://{ip}:{web}/api/dumps") as r:
                dumps = json.load(r)["dumps"]
            if (dumps and dumps[0]["state"] != "receiving") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop(proc)
    (d,) = dumps
    assert (d["id"], d["collector"], d["panic"]) == (f"{client_ip}.0", "north", "shared panic")
    assert d["state"] == "complete"
    assert not (dumpdir / "catalogue.sqlite").exists()
