"""The dashboard's door: who a request is, and what it gets when it is nobody.

Browsers log in once and carry a signed session cookie; scripts send HTTP
Basic credentials with every request to ``/api/`` or a download. Without
users configured (loopback only) everyone is ``local`` but still gets a
session, so the CSRF token on forms protects a local dashboard too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from debugnet.web.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    Auth,
    Session,
    make_session_cookie,
    parse_basic,
    read_session_cookie,
)

LOCAL_USER = "local"

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Who:
    user: str
    session: Session | None
    """None for a Basic-authenticated script: it has no CSRF token and cannot POST."""


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def unauthorized() -> Response:
    """401 with no detail: neither which part was wrong nor whether the user exists."""
    return PlainTextResponse(
        "401 Unauthorized\n",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="debugnet"'},
    )


def identify(auth: Auth, request: Request) -> Who | Response | None:
    """The requester, a 401 for bad Basic credentials, or None when unknown."""
    now = time.time()
    session = auth.valid(read_session_cookie(auth.signer, request.cookies.get(SESSION_COOKIE), now))
    if session is not None:
        return Who(session.user, session)
    basic = parse_basic(request.headers.get("authorization"))
    if basic is not None and auth.enabled:
        if auth.login(client_address(request), basic[0], basic[1], now):
            return Who(basic[0], None)
        return unauthorized()
    if not auth.enabled:
        return Who(LOCAL_USER, None)
    return None


def set_session(auth: Auth, response: Response, user: str, secure: bool) -> None:
    set_cookie(response, make_session_cookie(auth.signer, user, time.time()), secure)


def set_cookie(response: Response, cookie: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def guarded(auth: Auth, *, machine: bool) -> Callable[[Endpoint], Endpoint]:
    """Wrap an endpoint: ``request.state.who`` is set, or the request is turned away.

    ``machine`` endpoints (API, downloads) answer 401; pages redirect to the login form.
    """

    def wrap(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def checked(request: Request) -> Response:
            # Off the event loop: checking Basic credentials is bcrypt work, slow on purpose.
            who = await run_in_threadpool(identify, auth, request)
            if isinstance(who, Response):
                return who
            if who is None:
                if machine:
                    return unauthorized()
                target = quote(
                    request.url.path + ("?" + request.url.query if request.url.query else "")
                )
                return RedirectResponse(f"/login?next={target}", status_code=303)
            cookie = None
            if who.session is None and not auth.enabled and not machine:
                cookie = make_session_cookie(auth.signer, LOCAL_USER, time.time())
                who = Who(LOCAL_USER, read_session_cookie(auth.signer, cookie, time.time()))
            request.state.who = who
            response = await endpoint(request)
            if cookie is not None:
                set_cookie(response, cookie, request.url.scheme == "https")
            return response

        return checked

    return wrap


def csrf_ok(auth: Auth, request: Request, token: object) -> bool:
    """A state-changing POST must come from a session's own form."""
    who: Who = request.state.who
    return (
        who.session is not None
        and isinstance(token, str)
        and auth.signer.check_csrf(who.session.sid, token)
    )


def csrf_token(auth: Auth, request: Request) -> str:
    who: Who | None = getattr(request.state, "who", None)
    if who is None or who.session is None:
        return ""
    return auth.signer.csrf_token(who.session.sid)
