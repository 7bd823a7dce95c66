"""Who may look at dumps: htpasswd bcrypt users, signed session cookies, CSRF, rate limits.

Dumps are kernel memory, so everything here fails closed: a bad or missing
credential is a bare 401, a forged cookie is no cookie, and a POST without the
token bound to its session is refused. Cookies are signed with HMAC-SHA256
under a key made fresh at every start (sessions end with the process; nothing
to store or leak).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from debugnet.errors import InvalidArgument

SESSION_COOKIE = "debugnet_session"
SESSION_LIFETIME = 12 * 3600.0
"""Seconds a browser login lasts."""


@dataclass(frozen=True, slots=True)
class Users:
    """``user:$2b$...`` lines, as ``htpasswd -B`` writes them."""

    hashes: dict[str, bytes]
    dummy: bytes = b""
    """A hash checked for unknown users, so timing does not tell which users exist."""

    @classmethod
    def load(cls, path: Path) -> Users:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidArgument(f"auth file {path}: {exc.strerror}") from exc
        hashes: dict[str, bytes] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise InvalidArgument(f"auth file {path} line {number}: not a user:bcrypt line")
            hashes[user] = hashed.encode()
        if not hashes:
            raise InvalidArgument(f"auth file {path} has no users")
        import bcrypt

        return cls(hashes, bcrypt.hashpw(b"unknown user", bcrypt.gensalt(rounds=10)))

    def check(self, user: str, password: str) -> bool:
        import bcrypt

        hashed = self.hashes.get(user)
        if hashed is None:
            if self.dummy:
                bcrypt.checkpw(b"x", self.dummy)
            return False
        # htpasswd writes $2y$, the same algorithm bcrypt calls $2b$.
        if hashed.startswith(b"$2y$"):
            hashed = b"$2b$" + hashed[4:]
        try:
            return bool(bcrypt.checkpw(password.encode(), hashed))
        except ValueError:
            return False


def is_loopback(bind: str) -> bool:
    """Whether an address only this machine can reach (refusing hostnames that might not be)."""
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


class Signer:
    """HMAC-SHA256 over cookie values, with a per-process random key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, value: str) -> str:
        payload = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload.encode())}"

    def unsign(self, token: str) -> str | None:
        payload, _, mac = token.rpartition(".")
        if not payload or not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def csrf_token(self, session_id: str) -> str:
        """The token every state-changing form carries, bound to one login session."""
        return self._mac(b"csrf:" + session_id.encode())

    def check_csrf(self, session_id: str, token: str) -> bool:
        return hmac.compare_digest(token, self.csrf_token(session_id))


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    sid: str
    expires: float


def make_session_cookie(signer: Signer, user: str, now: float) -> str:
    sid = secrets.token_urlsafe(16)
    return signer.sign(f"{user}\n{sid}\n{now + SESSION_LIFETIME:.0f}")


def read_session_cookie(signer: Signer, cookie: str | None, now: float) -> Session | None:
    if not cookie:
        return None
    value = signer.unsign(cookie)
    if value is None:
        return None
    parts = value.split("\n")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    session = Session(parts[0], parts[1], float(parts[2]))
    return session if session.expires > now else None


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic ...`` as (user, password), or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


@dataclass(slots=True)
class RateLimiter:
    """At most ``limit`` bad credentials per ``window`` seconds from one client address.

    Past the limit every attempt is refused without checking the password, so
    guessing costs the guesser time and the server no bcrypt work.
    """

    limit: int = 5
    window: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, client: str, now: float) -> bool:
        with self._lock:
            recent = self._failures.get(client)
            if recent is None:
                return False
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if not recent:
                del self._failures[client]
                return False
            return len(recent) >= self.limit

    def failed(self, client: str, now: float) -> None:
        with self._lock:
            self._failures.setdefault(client, deque()).append(now)
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                oldest = min(self._failures, key=lambda k: self._failures[k][-1])
                del self._failures[oldest]


@dataclass(slots=True)
class Auth:
    """The access policy of one dashboard: no users means open (loopback only)."""

    users: Users | None
    signer: Signer = field(default_factory=Signer)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    revoked: set[str] = field(default_factory=set)
    """Session ids logged out before their cookie expired (a replayed cookie stays out)."""

    @property
    def enabled(self) -> bool:
        return self.users is not None

    def logout(self, session: Session) -> None:
        if len(self.revoked) > 100_000:  # bound memory; lifetimes are 12 h anyway
            self.revoked.clear()
        self.revoked.add(session.sid)

    def valid(self, session: Session | None) -> Session | None:
        return None if session is None or session.sid in self.revoked else session

    def login(self, client: str, user: str, password: str, now: float) -> bool:
        """Check credentials; False when wrong or when this client is rate limited."""
        if self.users is None:
            return True
        if self.limiter.blocked(client, now):
            return False
        if self.users.check(user, password):
            return True
        self.limiter.failed(client, now)
        return False


def require_auth_for(bind: str, auth_file: Path | None) -> Users | None:
    """The users for a dashboard on ``bind``; refuses a non-loopback bind without any."""
    if auth_file is not None:
        return Users.load(auth_file)
    if not is_loopback(bind):
        raise InvalidArgument(
            f"refusing to serve dumps on {bind} without --auth-file "
            "(dumps are kernel memory; bind 127.0.0.1 or configure users)"
        )
    return None
