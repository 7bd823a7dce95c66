"""Access to a dashboard with users configured: login, Basic, 401s, CSRF, rate limit, logout."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from debugnet.catalogue import open_catalogue, reindex
from debugnet.cli import main
from debugnet.web.app import WebConfig, create_app
from debugnet.web.auth import SESSION_COOKIE, Auth, RateLimiter, Users
from debugnet.web.catalogue_source import CatalogueSource
from tests.webdumps import Known, make_known_dumps
from tests.webutil import htpasswd


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Known:
    known = make_known_dumps(tmp_path_factory.mktemp("access") / "crash")
    catalogue = open_catalogue(known.dumpdir)
    reindex(catalogue, known.dumpdir)
    catalogue.close()
    return known


@pytest.fixture
def client(known: Known, tmp_path: Path) -> Iterator[TestClient]:
    dumpdir = tmp_path / "crash"
    shutil.copytree(known.dumpdir, dumpdir, symlinks=True)
    users = Users.load(htpasswd(tmp_path / "users", {"ops": "correct horse"}))
    source = CatalogueSource.open(dumpdir)
    auth = Auth(users, limiter=RateLimiter(limit=3, window=60.0))
    with TestClient(create_app(WebConfig(source, auth)), base_url="http://192.0.2.1") as c:
        yield c
    source.close()


def login(client: TestClient, password: str = "correct horse", next_: str = "/") -> int:
    r = client.post(
        "/login",
        data={"user": "ops", "password": password, "next": next_},
        follow_redirects=False,
    )
    return r.status_code


def test_nothing_without_login(client: TestClient, known: Known) -> None:
    dump_id = f"{known.host_a}.0"
    for path in ("/", "/dumps", f"/dumps/{dump_id}", "/groups", "/hosts", "/partials/arriving"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    for path in ("/api/dumps", f"/api/dumps/{dump_id}", "/api/groups"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert known.host_a not in r.text
    r = client.get(f"/download/{dump_id}", params={"file": f"vmcore.{dump_id}"})
    assert r.status_code == 401 and r.content != known.tcp_image
    assert (
        client.post("/groups/merge", data={"a": "x", "b": "y"}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/static/style.css").status_code == 200  # no secrets in the stylesheet


def test_forged_cookie_is_no_cookie(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "b3Bz.forged")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_cookie_flags_and_redirect(client: TestClient, known: Known) -> None:
    r = client.post(
        "/login",
        data={"user": "ops", "password": "correct horse", "next": "/hosts"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/hosts"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert known.host_a in client.get("/hosts").text
    # No open redirect through next=.
    assert (
        client.post(
            "/login",
            data={"user": "ops", "password": "correct horse", "next": "//evil.example/"},
            follow_redirects=False,
        ).headers["location"]
        == "/"
    )


def test_bad_credentials_are_401_without_detail(client: TestClient) -> None:
    r = client.post("/login", data={"user": "ops", "password": "wrong", "next": "/"})
    assert (
        r.status_code == 401
        and "Login failed." in r.text
        and "password" not in r.text.split("Login failed.")[1][:40]
    )
    unknown = client.post("/login", data={"user": "nobody", "password": "wrong", "next": "/"})
    assert unknown.status_code == 401 and unknown.text == r.text  # same page: no user oracle
    bad_basic = client.get("/api/dumps", auth=("ops", "wrong"))
    assert bad_basic.status_code == 401 and bad_basic.text == "401 Unauthorized\n"


def test_basic_auth_for_api_and_downloads(client: TestClient, known: Known) -> None:
    creds = ("ops", "correct horse")
    assert client.get("/api/dumps", auth=creds).json()["total"] == 6
    dump_id = f"{known.host_a}.0"
    r = client.get(f"/download/{dump_id}", params={"file": f"vmcore.{dump_id}"}, auth=creds)
    assert r.status_code == 200 and r.content == known.tcp_image


def test_rate_limit_refuses_even_the_right_password(client: TestClient) -> None:
    for _ in range(3):
        assert login(client, "wrong") == 401
    assert login(client, "correct horse") == 401
    assert client.get("/api/dumps", auth=("ops", "correct horse")).status_code == 401


def test_csrf_on_every_post(client: TestClient, known: Known) -> None:
    assert login(client) == 303
    html = client.get("/groups").text
    token = re.search(r'name="csrf" value="([^"]+)"', html)
    assert token
    sig_a, sig_b = [g["signature"] for g in client.get("/api/groups").json()][:2]
    for bad in ({}, {"csrf": ""}, {"csrf": token.group(1) + "x"}):
        r = client.post("/groups/merge", data={**bad, "a": sig_a, "b": sig_b})
        assert r.status_code == 403
    dump_id = f"{known.host_a}.0"
    assert client.post("/dumps/delete", data={"id": dump_id}).status_code == 403
    assert client.get(f"/api/dumps/{dump_id}").status_code == 200
    # A script with Basic credentials has no session, so it cannot POST at all.
    client.cookies.clear()
    r = client.post(
        "/dumps/delete", data={"id": dump_id, "csrf": token.group(1)}, auth=("ops", "correct horse")
    )
    assert r.status_code == 403


def test_logout(client: TestClient) -> None:
    assert login(client) == 303
    html = client.get("/").text
    token = re.search(r'name="csrf" value="([^"]+)"', html)
    assert token and "Log out" in html
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    r = client.post("/logout", data={"csrf": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie)  # a copy of the old cookie is dead too
    assert client.get("/", follow_redirects=False).status_code == 303


def test_cli_refuses_public_bind_without_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "crash").mkdir()
    code = main(["web", "--dir", str(tmp_path / "crash"), "--bind", "0.0.0.0", "--port", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "without --auth-file" in err and len(err.strip().splitlines()) == 1
