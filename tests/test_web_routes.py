"""Every page and API route over a catalogue of known dumps (received by the real server)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from debugnet.catalogue import open_catalogue, reindex
from debugnet.web.app import WebConfig, create_app
from debugnet.web.auth import Auth
from debugnet.web.catalogue_source import CatalogueSource
from debugnet.web.live import Arriving
from tests.pgserver import pg_cluster, pg_url
from tests.records import RECORD_FIELDS
from tests.webdumps import Known, make_known_dumps
from tests.webpg import collector_of, to_postgres

__all__ = ["pg_cluster", "pg_url"]

TCP_SIG = "Fatal trap NUM: page fault while in kernel mode in tcp_output"
ZIO_SIG = "Fatal trap NUM: page fault while in kernel mode in zio_done"


class Live:
    """What ``serve --web`` hands the app: here, one dump fixed in mid-flight."""

    def arriving(self) -> list[Arriving]:
        return [Arriving("crashy", "192.0.2.9", 3 << 20, 12 << 20, 4.0, 0.5)]


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Known:
    known = make_known_dumps(tmp_path_factory.mktemp("web") / "crash")
    catalogue = open_catalogue(known.dumpdir)
    assert reindex(catalogue, known.dumpdir) == 6
    catalogue.close()
    return known


@pytest.fixture
def dumpdir(known: Known, tmp_path: Path) -> Path:
    """A private copy, so deleting and merging in one test leaves the others' facts alone."""
    copy = tmp_path / "crash"
    shutil.copytree(known.dumpdir, copy, symlinks=True)
    return copy


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogue_url(request: pytest.FixtureRequest, dumpdir: Path, known: Known) -> str | None:
    """Every route over both backends: the directory's SQLite (None), or the same records
    in a shared PostgreSQL catalogue, written by two collectors (files still in ``dumpdir``)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return to_postgres(dumpdir, url, [known.host_a, known.host_b])


@pytest.fixture
def client(dumpdir: Path, catalogue_url: str | None) -> Iterator[TestClient]:
    source = CatalogueSource.open_at(catalogue_url, dumpdir)
    app = create_app(WebConfig(source, Auth(None), live=Live(), floor=1 << 30))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
    source.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def test_overview(client: TestClient, known: Known) -> None:
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    assert "dumps, last 24 h" in html and "6</div>" in html
    assert "complete</span></a> 4" in html and "incomplete</span></a> 2" in html
    assert "crashy" in html and "3.0 MiB of 12.0 MiB" in html and "25%" in html
    assert "floor 1.0 GiB" in html
    assert html.count("<rect") == 2  # today's bar: complete and incomplete
    assert "complete: 4</title>" in html and "incomplete: 2</title>" in html
    assert TCP_SIG in html and "watchdog timeout" in html  # all signatures are new
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert "<script>" not in html and "onsubmit" not in html  # no inline code for the CSP
    partial = client.get("/partials/arriving")
    assert partial.status_code == 200 and "arriving-row" in partial.text


def test_dump_list_filters_and_paging(client: TestClient, known: Known) -> None:
    html = client.get("/dumps").text
    assert "6 shown of 6 matching" in html
    ids = re.findall(r'<a href="/dumps/([^"]+)">', html)
    assert ids[0] == f"{known.host_b}.2"  # newest first: the timed-out dump
    html = client.get("/dumps", params={"state": "incomplete"}).text
    assert "2 shown of 2" in html and "server stopped" in html and "holes" in html
    html = client.get("/dumps", params={"host": known.host_a}).text
    assert "3 shown of 3" in html
    html = client.get("/dumps", params={"q": "pager"}).text
    assert "1 shown of 1" in html and "vm_fault: pager read error" in html
    html = client.get("/dumps", params={"signature": TCP_SIG}).text
    assert "2 shown of 2" in html
    assert (
        "0 shown of 0"
        in client.get("/dumps", params={"since": "2000-01-01", "until": "2000-01-02"}).text
    )
    page1 = client.get("/dumps", params={"limit": 4}).text
    assert "4 shown of 6" in page1 and 'id="older"' in page1
    page2 = client.get("/dumps", params={"limit": 4, "offset": 4}).text
    assert "2 shown" in page2 and 'id="older"' not in page2 and "Newer" in page2
    assert client.get("/dumps", params={"state": "bogus"}).status_code == 400
    assert client.get("/dumps", params={"since": "yesterday"}).status_code == 400
    assert client.get("/dumps", params={"offset": "-1"}).status_code == 400


def test_dump_page(client: TestClient, known: Known) -> None:
    dump_id = f"{known.host_a}.0"
    html = client.get(f"/dumps/{dump_id}").text
    assert "Dump complete" in html  # the info file
    assert "<mark>Fatal trap 12: page fault while in kernel mode</mark>" in html
    assert "<mark>panic: page fault</mark>" in html
    assert "tcp_usr_send+0x263" in html  # the message buffer
    assert f"vmcore.{dump_id}" in html and "28.0 KiB" in html
    assert TCP_SIG in html
    holes = client.get(f"/dumps/{known.host_a}.2").text
    assert "holes: 4000 bytes missing" in holes and "Message buffer" not in holes
    assert client.get("/dumps/nosuch.9").status_code == 404


def test_download_is_the_file(client: TestClient, known: Known) -> None:
    dump_id = f"{known.host_a}.0"
    r = client.get(f"/download/{dump_id}", params={"file": f"vmcore.{dump_id}"})
    assert r.status_code == 200 and r.content == known.tcp_image
    for bad in ("../catalogue.sqlite", "catalogue.sqlite", f"vmcore.{known.host_b}.0", ""):
        assert client.get(f"/download/{dump_id}", params={"file": bad}).status_code == 404


def test_groups_and_merge(client: TestClient, known: Known) -> None:
    html = client.get("/groups").text
    assert TCP_SIG in html and ZIO_SIG in html and "<polyline" in html
    assert client.get("/groups/" + quote(TCP_SIG)).status_code == 200
    token = csrf_of(html)
    r = client.post("/groups/merge", data={"csrf": token, "a": TCP_SIG, "b": ZIO_SIG})
    assert r.status_code == 200  # followed the redirect to /groups
    groups = client.get("/api/groups").json()
    merged = next(g for g in groups if g["signature"] == TCP_SIG)
    assert merged["count"] == 3 and sorted(merged["titles"]) == sorted([TCP_SIG, ZIO_SIG])
    assert not [g for g in groups if g["signature"] == ZIO_SIG]
    assert "merged: 2" in client.get("/groups").text
    page = client.get("/groups/" + quote(ZIO_SIG))  # a merged-away name finds its group
    assert page.status_code == 200 and "3</dd>" in page.text


def test_hosts(client: TestClient, known: Known) -> None:
    html = client.get("/hosts").text
    assert known.host_a in html and known.host_b in html and html.count("<polyline") == 2


def test_delete_needs_csrf_then_removes_files(
    client: TestClient, dumpdir: Path, known: Known
) -> None:
    dump_id = f"{known.host_b}.1"
    html = client.get(f"/dumps/{dump_id}").text
    assert client.post("/dumps/delete", data={"id": dump_id}).status_code == 403
    assert client.post("/dumps/delete", data={"id": dump_id, "csrf": "x"}).status_code == 403
    assert (dumpdir / f"vmcore.{dump_id}").exists()
    r = client.post("/dumps/delete", data={"id": dump_id, "csrf": csrf_of(html)})
    assert r.status_code == 200
    assert not (dumpdir / f"vmcore.{dump_id}").exists()
    assert not (dumpdir / f"info.{dump_id}").exists()
    assert client.get(f"/api/dumps/{dump_id}").status_code == 404


def test_api(client: TestClient, known: Known) -> None:
    body = client.get("/api/dumps").json()
    assert body["total"] == 6 and len(body["dumps"]) == 6
    first = body["dumps"][0]
    assert set(first) >= RECORD_FIELDS
    assert first["state"] == "incomplete" and first["reason"] == "server stopped"
    page = client.get("/api/dumps", params={"limit": 2, "offset": 2}).json()
    assert [d["id"] for d in page["dumps"]] == [d["id"] for d in body["dumps"][2:4]]
    one = client.get(f"/api/dumps/{known.host_a}.0").json()
    assert one["signature"] == TCP_SIG and one["bytes"] == len(known.tcp_image)
    assert (
        client.get("/api/dumps", params={"host": known.host_b, "state": "complete"}).json()["total"]
        == 2
    )
    groups = client.get("/api/groups").json()
    for key in ("signature", "count", "hosts", "first_seen", "last_seen", "latest"):
        assert key in groups[0]
    assert client.get("/api/groups", params={"since": "nonsense"}).status_code == 400


def test_api_is_the_cli_json(
    client: TestClient,
    dumpdir: Path,
    catalogue_url: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """/api/dumps and /api/groups print what `debugnet dumps list|groups --json` prints."""
    import json

    from debugnet.cli import main

    where = ["--dir", str(dumpdir)] + (["--catalogue", catalogue_url] if catalogue_url else [])
    assert main(["dumps", *where, "list", "--json"]) == 0
    cli_list = json.loads(capsys.readouterr().out)
    assert client.get("/api/dumps").json()["dumps"] == cli_list
    assert main(["dumps", *where, "groups", "--json"]) == 0
    cli_groups = json.loads(capsys.readouterr().out)
    assert client.get("/api/groups").json() == cli_groups
    one = cli_list[0]
    assert client.get(f"/api/dumps/{one['id']}").json() == one


def test_collector_shown(client: TestClient, known: Known, catalogue_url: str | None) -> None:
    """Which collector received each dump: a column of the list and a field of its page."""
    dumps = client.get("/api/dumps").json()["dumps"]
    cells = re.findall(r'<td class="hide-small collector">([^<]*)</td>', client.get("/dumps").text)
    assert cells == [d["collector"] for d in dumps]
    if catalogue_url is not None:
        hosts = [known.host_a, known.host_b]
        assert cells == [collector_of(d["host"], hosts) for d in dumps]
        assert set(cells) == {"east", "west"}
    one = dumps[0]
    page = client.get(f"/dumps/{one['id']}").text
    assert f"<dt>collector</dt><dd>{one['collector']}</dd>" in page
