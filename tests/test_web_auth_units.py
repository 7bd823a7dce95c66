"""The dashboard's access primitives: htpasswd users, signed cookies, CSRF, Basic, rate limits."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("bcrypt")
from debugnet.errors import InvalidArgument
from debugnet.web.auth import (
    Auth,
    RateLimiter,
    Signer,
    Users,
    is_loopback,
    make_session_cookie,
    parse_basic,
    read_session_cookie,
    require_auth_for,
)
from tests.webutil import htpasswd


def test_users_from_htpasswd_lines(tmp_path: Path) -> None:
    users = Users.load(htpasswd(tmp_path / "users", {"ops": "s3cret", "dev": "x"}))
    assert users.check("ops", "s3cret")
    assert not users.check("ops", "wrong")
    assert not users.check("nobody", "s3cret")
    assert users.check("dev", "x")


@pytest.mark.skipif(shutil.which("htpasswd") is None, reason="htpasswd (apache2-utils) absent")
def test_users_from_the_real_htpasswd(tmp_path: Path) -> None:
    path = tmp_path / "users"
    subprocess.run(["htpasswd", "-cbB", str(path), "ops", "s3cret"], check=True)
    assert Users.load(path).check("ops", "s3cret")


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "ops:plaintext\n", "ops:{SHA}abc\n", ":$2y$05$x\n"]
)
def test_bad_users_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "users"
    path.write_text(text)
    with pytest.raises(InvalidArgument):
        Users.load(path)
    with pytest.raises(InvalidArgument):
        Users.load(tmp_path / "missing")


def test_signer_rejects_tampering() -> None:
    signer = Signer()
    token = signer.sign("ops\nsid\n99")
    assert signer.unsign(token) == "ops\nsid\n99"
    _payload, mac = token.rsplit(".", 1)
    forged = base64.urlsafe_b64encode(b"root\nsid\n99").decode().rstrip("=")
    assert signer.unsign(f"{forged}.{mac}") is None
    assert signer.unsign(token + "x") is None
    assert Signer().unsign(token) is None  # another process's key
    assert signer.unsign("garbage") is None


def test_session_cookie_expires() -> None:
    signer = Signer()
    cookie = make_session_cookie(signer, "ops", now=1000.0)
    session = read_session_cookie(signer, cookie, now=1001.0)
    assert session is not None and session.user == "ops"
    assert read_session_cookie(signer, cookie, now=1000.0 + 13 * 3600) is None
    assert read_session_cookie(signer, None, now=0) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    signer = Signer()
    assert signer.check_csrf("a", signer.csrf_token("a"))
    assert not signer.check_csrf("b", signer.csrf_token("a"))
    assert not signer.check_csrf("a", "")


def test_parse_basic() -> None:
    header = "Basic " + base64.b64encode(b"ops:pa:ss").decode()
    assert parse_basic(header) == ("ops", "pa:ss")
    assert parse_basic("Bearer x") is None
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Basic " + base64.b64encode(b"nocolon").decode()) is None
    assert parse_basic(None) is None


def test_rate_limiter_blocks_then_forgets() -> None:
    limiter = RateLimiter(limit=3, window=60.0)
    for t in (0.0, 1.0, 2.0):
        assert not limiter.blocked("10.0.0.1", t)
        limiter.failed("10.0.0.1", t)
    assert limiter.blocked("10.0.0.1", 3.0)
    assert not limiter.blocked("10.0.0.2", 3.0)
    assert not limiter.blocked("10.0.0.1", 61.0)


def test_login_refuses_good_password_while_limited(tmp_path: Path) -> None:
    auth = Auth(Users.load(htpasswd(tmp_path / "u", {"ops": "pw"})), limiter=RateLimiter(2, 60))
    assert not auth.login("c", "ops", "bad", 0.0)
    assert not auth.login("c", "ops", "bad", 1.0)
    assert not auth.login("c", "ops", "pw", 2.0)  # limited: not even checked
    assert auth.login("other", "ops", "pw", 2.0)
    assert auth.login("c", "ops", "pw", 70.0)


def test_non_loopback_bind_needs_users(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    assert not is_loopback("dash.example")
    assert require_auth_for("127.0.0.1", None) is None
    with pytest.raises(InvalidArgument, match="auth-file"):
        require_auth_for("0.0.0.0", None)
    users = require_auth_for("0.0.0.0", htpasswd(tmp_path / "u", {"ops": "pw"}))
    assert users is not None and users.check("ops", "pw")
