"""Defects found reviewing the dashboard: links that lie, 500s on odd query strings,
and ``serve --web`` showing free space without the server's floor."""

from __future__ import annotations

import argparse
import io
import re
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from debugnet.catalogue import CATALOGUE_NAME
from debugnet.catalogue.dumpfiles import LocalFiles, StoreReadError
from debugnet.web.app import WebConfig, create_app
from debugnet.web.auth import Auth
from debugnet.web.catalogue_source import CatalogueSource
from tests.netutil import free_loopback
from tests.test_web_routes import catalogue_url, dumpdir, known, pg_cluster, pg_url
from tests.webdumps import Known

__all__ = ["catalogue_url", "dumpdir", "known", "pg_cluster", "pg_url"]

DAY = 86400


@pytest.fixture
def client(dumpdir: Path) -> Iterator[TestClient]:
    source = CatalogueSource.open_at(None, dumpdir)
    app = create_app(WebConfig(source, Auth(None)))
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c
    source.close()


def _age(dumpdir: Path, dump_id: str, days: float) -> None:
    """Move a dump's start ``days`` into the past, as if it had arrived then."""
    db = sqlite3.connect(dumpdir / CATALOGUE_NAME)
    with db:
        db.execute("UPDATE dumps SET started = ? WHERE id = ?", (time.time() - days * DAY, dump_id))
    db.close()


def test_overview_card_links_show_what_the_cards_count(
    client: TestClient, dumpdir: Path, known: Known
) -> None:
    """Each state in the 24 h and 7 day cards links to the list of exactly those dumps."""
    _age(dumpdir, f"{known.host_a}.1", 3)  # complete, 3 days ago: in the week, not the day
    _age(dumpdir, f"{known.host_b}.1", 20)  # complete, 20 days ago: in neither
    html = client.get("/").text
    cards = html.split('<div class="card">')[1:3]  # the 24 h and the 7 day cards
    checked = 0
    for card in cards:
        for href, n in re.findall(r'<a href="([^"]+)"><span[^>]*>\w+</span></a> (\d+)<', card):
            query = {k: v[0] for k, v in parse_qs(urlsplit(unescape(href)).query).items()}
            shown = client.get("/api/dumps", params=query).json()["total"]
            assert shown == int(n), f"{href} lists {shown} dumps, the card says {n}"
            checked += 1
    assert checked >= 4  # complete and incomplete in both cards


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "\u00b2"),  # str.isdigit() is true for a superscript two; int() refuses it
        ("offset", "9" * 5000),  # past Python's limit on digits in int()
        ("since", "1" + "0" * 400 + "d"),  # too many days for a float
        ("until", "1" + "0" * 400 + "w"),
    ],
)
def test_odd_query_values_are_400_not_500(client: TestClient, name: str, value: str) -> None:
    for path in ("/dumps", "/api/dumps"):
        r = client.get(path, params={name: value})
        if name == "offset":  # a number past the last page, like offset=10**9: nothing
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
            assert "0 shown" in r.text or r.json()["dumps"] == []
            continue
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert name in r.text or "since/until" in r.text
    if name == "since":
        assert client.get("/api/groups", params={"since": value}).status_code == 400


def test_serve_web_shows_the_servers_floor(tmp_path: Path) -> None:
    """``serve --web``'s free-space card is against the floor the server refuses dumps at."""
    from debugnet.cli import serve_extras
    from debugnet.server.config import ServerConfig
    from debugnet.server.listener import Server
    from debugnet.storage.limits import Floor

    dumpdir = tmp_path / "crash"
    dumpdir.mkdir()
    ip = free_loopback(ports=(8023,))
    config = ServerConfig(dumpdir=dumpdir, bind=ip, port=0, min_free=Floor(percent=99.0))
    server = Server(config)
    args = argparse.Namespace(web=f"{ip}:8023", metrics=None, notify=[], auth_file=None)
    stop = serve_extras.start(args, server)
    try:
        with urllib.request.urlopen(f"http://{ip}:8023/", timeout=30) as r:
            html = r.read().decode()
    finally:
        stop()
    floor = server.backend.free_bytes() - server.backend.room()
    assert floor > 0
    from debugnet.web.timefmt import format_size

    assert f"(floor {format_size(floor)})" in html
    assert 'class="bar floor low"' in html  # 99 % of the disk is not free here


class _BucketLike(LocalFiles):
    """The known files served as a bucket serves them (no local path: streamed), counting
    the bytes read out of storage."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read_bytes = 0

    def local_path(self, name: str) -> Path | None:
        return None

    def open(self, name: str) -> BinaryIO:
        files = self

        class Counted(io.BufferedReader):
            def read(self, size: int | None = -1) -> bytes:
                data = super().read(size)
                files.read_bytes += len(data)
                return data

        return Counted(io.FileIO(self.root / name))


def test_head_of_a_streamed_download_reads_nothing(dumpdir: Path, known: Known) -> None:
    """``curl -I`` on a vmcore in a bucket answers its length without fetching it."""
    stored = _BucketLike(dumpdir)
    source = CatalogueSource.open_at(None, dumpdir, stored=stored)
    dump_id = f"{known.host_a}.0"
    url = f"/download/{dump_id}?file=vmcore.{dump_id}"
    try:
        app = create_app(WebConfig(source, Auth(None)))
        with TestClient(app, base_url="http://127.0.0.1") as c:
            head = c.head(url)
            assert head.status_code == 200 and stored.read_bytes == 0
            assert int(head.headers["content-length"]) == len(known.tcp_image)
            assert f"vmcore.{dump_id}" in head.headers["content-disposition"]
            got = c.get(url)
            assert got.content == known.tcp_image and stored.read_bytes == len(known.tcp_image)
    finally:
        source.close()


def test_a_dump_being_received_is_not_deleted(
    client: TestClient, dumpdir: Path, known: Known
) -> None:
    """As `debugnet dumps rm` refuses it: the server is still writing those files."""
    dump_id = f"{known.host_b}.1"
    db = sqlite3.connect(dumpdir / CATALOGUE_NAME)
    with db:
        db.execute("UPDATE dumps SET state = 'receiving' WHERE id = ?", (dump_id,))
    db.close()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/dumps/{dump_id}").text)
    assert token is not None
    r = client.post("/dumps/delete", data={"id": dump_id, "csrf": token.group(1)})
    assert r.status_code == 409 and "still being received" in r.text
    assert (dumpdir / f"vmcore.{dump_id}").exists()
    assert client.get(f"/api/dumps/{dump_id}").json()["state"] == "receiving"


class _BucketGone(_BucketLike):
    """A bucket that answered HEAD, then is unreachable for the GET."""

    def open(self, name: str) -> BinaryIO:
        raise StoreReadError(f"cannot read s3://b/{name}: Could not connect to the endpoint URL")


def test_a_bucket_failing_mid_download_is_503(dumpdir: Path, known: Known) -> None:
    source = CatalogueSource.open_at(None, dumpdir, stored=_BucketGone(dumpdir))
    dump_id = f"{known.host_a}.0"
    try:
        app = create_app(WebConfig(source, Auth(None)))
        with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
            r = c.get(f"/download/{dump_id}?file=vmcore.{dump_id}")
            assert r.status_code == 503 and "Could not connect" in r.text
    finally:
        source.close()


def test_a_nul_is_a_bad_request_or_no_dump_on_both_backends(
    dumpdir: Path, catalogue_url: str | None
) -> None:
    """PostgreSQL refuses NUL in text: that was a 503 'unavailable' there, a 200 on SQLite."""
    source = CatalogueSource.open_at(catalogue_url, dumpdir)
    try:
        app = create_app(WebConfig(source, Auth(None)))
        with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
            for url in ("/api/dumps/a%00b", "/dumps/a%00b", "/download/a%00b?file=x"):
                assert c.get(url).status_code == 404, url
            for name in ("host", "signature", "q", "state"):
                r = c.get(f"/api/dumps?{name}=a%00b")
                assert r.status_code == 400 and name in r.text, (name, r.text)
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/groups").text)
            assert token is not None
            for form in ({"id": "a\0b"}, {"a": "x\0", "b": "y"}):
                action = "/dumps/delete" if "id" in form else "/groups/merge"
                r = c.post(action, data={**form, "csrf": token.group(1)})
                assert r.status_code in (400, 404), (action, r.status_code, r.text)
    finally:
        source.close()


def test_a_dashboard_without_users_answers_only_loopback_names(
    client: TestClient, known: Known
) -> None:
    """DNS rebinding: a page from evil.example whose name then resolves to 127.0.0.1 is
    same-origin with the dashboard; without users, only the Host header tells it apart."""
    dump_id = f"{known.host_a}.0"
    for host in ("evil.example:8023", "evil.example", "192.0.2.1:8023"):
        for url in ("/", f"/download/{dump_id}?file=vmcore.{dump_id}", "/api/dumps"):
            r = client.get(url, headers={"Host": host})
            assert r.status_code == 400 and known.tcp_image[:64] not in r.content, (host, url)
    for host in ("127.0.0.1:8023", "localhost:8023", "[::1]:8023", "127.9.8.7"):
        assert client.get("/api/dumps", headers={"Host": host}).status_code == 200, host


def test_a_password_check_does_not_stall_the_dashboard(tmp_path: Path) -> None:
    """bcrypt is slow on purpose: a script's Basic credentials being checked must not hold
    up the event loop (other users' pages, the login form, downloads in progress)."""
    import threading

    from debugnet.web.auth import Users
    from debugnet.web.run import WebServer
    from tests.browser import free_tcp_port
    from tests.webutil import htpasswd

    entered, release = threading.Event(), threading.Event()
    real = Users.load(htpasswd(tmp_path / "users", {"ops": "pw"}))

    class SlowUsers(Users):
        def check(self, user: str, password: str) -> bool:
            entered.set()
            release.wait(60)
            return super().check(user, password)

    (tmp_path / "crash").mkdir()
    source = CatalogueSource.open(tmp_path / "crash")
    ip = free_loopback((20024,))
    auth = Auth(SlowUsers(real.hashes, real.dummy))
    web = WebServer(create_app(WebConfig(source, auth)), ip, free_tcp_port(ip))
    web.start()
    answers: list[int] = []

    def script() -> None:
        request = urllib.request.Request(f"{web.url}/api/dumps")
        request.add_header("Authorization", "Basic b3BzOnB3")  # ops:pw
        with urllib.request.urlopen(request, timeout=60) as r:
            answers.append(r.status)

    waiting = threading.Thread(target=script)
    try:
        waiting.start()
        assert entered.wait(30)
        login = urllib.request.urlopen(f"{web.url}/login", timeout=10).read()
        assert b"password" in login and answers == []
    finally:
        release.set()
        waiting.join(60)
        web.close()
        source.close()
    assert answers == [200]


def test_the_list_page_with_limit_0_still_pages(client: TestClient) -> None:
    """limit=0 showed no dumps and an 'Older' link back to the same empty page."""
    html = client.get("/dumps", params={"limit": "0"}).text
    older = re.search(r'id="older" href="\?([^"]+)"', html)
    assert older is not None and "1 shown of 6" in html
    assert parse_qs(unescape(older.group(1)))["offset"] == ["1"]
