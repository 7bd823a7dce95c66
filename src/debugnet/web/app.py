"""The dashboard: server-rendered pages, their JSON twins, downloads and the two POST actions."""

from __future__ import annotations

import asyncio
import functools
import html
import inspect
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote, urlencode

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from debugnet.catalogue.base import CatalogueUnavailable
from debugnet.catalogue.dumpfiles import StoreReadError
from debugnet.catalogue.jsonform import iso
from debugnet.catalogue.sqlbase import CatalogueError
from debugnet.errors import NoEntry
from debugnet.web import plot
from debugnet.web.auth import SESSION_COOKIE, Auth, is_loopback
from debugnet.web.gate import (
    Endpoint,
    Who,
    client_address,
    csrf_ok,
    csrf_token,
    guarded,
    set_session,
)
from debugnet.web.live import LiveStatus
from debugnet.web.source import DumpFilter, DumpSource, day_labels
from debugnet.web.timefmt import format_size, format_when, parse_since

log = logging.getLogger(__name__)

T = TypeVar("T")

HERE = Path(__file__).parent
STATES = ("receiving", "complete", "incomplete", "failed")
PAGE = 50
API_MAX = 1000
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class WebConfig:
    source: DumpSource
    auth: Auth
    live: LiveStatus | None = None
    floor: int | Callable[[], int] = 0
    """Free bytes below which the server refuses new dumps (0: none), shown with free space;
    a function when it can change (a percentage of the disk, savecore's ``minfree`` file)."""


class BadRequest(Exception):
    pass


def _filter(request: Request) -> DumpFilter:
    q = request.query_params
    try:
        since = parse_since(q.get("since") or None, time.time())
        until = parse_since(q.get("until") or None, time.time())
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    for name, value in q.items():  # PostgreSQL refuses NUL in text; SQLite matched nothing
        if "\0" in value:
            raise BadRequest(f"{name} must not contain NUL")
    state = q.get("state") or None
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}")
    return DumpFilter(
        host=q.get("host") or None,
        state=state,
        signature=q.get("signature") or None,
        since=since,
        until=until,
        search=q.get("q") or None,
    )


def _int(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # ASCII only: str.isdigit() also takes digits int() refuses ('\u00b2').
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f"{name} must be a non-negative integer")
    digits = raw.lstrip("0")
    return top if len(digits) > len(str(top)) else min(int(digits or "0"), top)


def _panic_mark(text: str, panic: str | None) -> Markup:
    """The message buffer, escaped, with panic lines (and the panic string) highlighted."""
    out = []
    for line in text.splitlines():
        escaped = html.escape(line)
        if (panic and panic in line) or re.match(r"\s*(panic|Fatal trap)", line):
            escaped = f"<mark>{escaped}</mark>"
        out.append(escaped)
    return Markup("\n".join(out))


SECURITY_HEADERS = {
    # Scripts only from our static files; inline style attributes draw the bars.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """Headers on every response: no framing, no sniffing, no caching of kernel memory."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8023`` is ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class LoopbackHostOnly:
    """Without users, answer only requests that name a loopback host.

    A page from another site whose name the attacker then resolves to
    127.0.0.1 (DNS rebinding) is same-origin with the dashboard: it could read
    dumps and the CSRF token. Its requests still carry its own name in Host.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = _host_name(Headers(scope=scope).get("host", ""))
            if not is_loopback(host):
                response = PlainTextResponse(
                    "400 Bad Request: a dashboard without users answers only loopback names\n",
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Dashboard:
    """Endpoints over one ``WebConfig``; ``app()`` builds the Starlette application."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.source = config.source
        self.auth = config.auth
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.filters["size"] = format_size
        env.filters["when"] = format_when
        env.filters["panic_mark"] = _panic_mark
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-source")
        """Where every read of the catalogue and the files runs, one at a time: a
        database retrying a lost connection or a slow bucket then holds up
        those pages, not the event loop (logins, static files, other users'
        downloads in progress go on), and the connections see one thread at a time."""

    async def _off(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args))

    def _offloaded(self, endpoint: Callable[[Request], Response]) -> Endpoint:
        @functools.wraps(endpoint)
        async def run(request: Request) -> Response:
            return await self._off(endpoint, request)

        return run

    # -- helpers -------------------------------------------------------------

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        who: Who | None = getattr(request.state, "who", None)
        context.update(
            user=who.user if who else None,
            auth_enabled=self.auth.enabled,
            csrf=csrf_token(self.auth, request),
        )
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def _disk(self) -> dict[str, Any] | None:
        """Free space where the dumps are; None (no card) with no local dump directory."""
        where = self.source.dumpdir()
        if where is None:
            return None
        floor = self.config.floor
        try:
            if callable(floor):
                floor = floor()
            st = os.statvfs(where)
        except OSError:
            return {"free": 0, "floor": 0, "percent_free": 0.0, "low": True}
        free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
        return {
            "free": free,
            "total": total,
            "floor": floor,
            "percent_free": 100.0 * free / total if total else 0.0,
            "low": free < floor,
        }

    def _arriving(self) -> list[Any] | None:
        if self.config.live is None:
            return None
        return sorted(self.config.live.arriving(), key=lambda a: a.host)

    def _spark(self, per_day: dict[str, dict[str, int]], key: str, now: float) -> Markup:
        days = day_labels(now, 30)
        return Markup(plot.sparkline([per_day.get(d, {}).get(key, 0) for d in days]))

    def _groups(self, since: float | None) -> list[dict[str, Any]]:
        now = time.time()
        per_day = self.source.per_day(now - 30 * DAY, key="signature")
        groups = self.source.groups(since)
        for g in groups:
            g["spark"] = self._spark(per_day, g["signature"], now)
        return groups

    # -- pages ---------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        now = time.time()
        days = day_labels(now, 30)
        week_ago = iso(now - 7 * DAY) or ""  # ISO UTC strings compare as the times do
        new_groups = [g for g in self.source.groups(None) if (g["first_seen"] or "") >= week_ago]
        return self.render(
            request,
            "overview.html",
            day=self.source.states_since(now - DAY),
            week=self.source.states_since(now - 7 * DAY),
            total=self.source.size(),
            disk=self._disk(),
            arriving=self._arriving(),
            plot=Markup(plot.stacked_days(days, self.source.per_day(now - 30 * DAY))),
            colours=plot.STATE_COLOURS,
            new_groups=new_groups,
        )

    def arriving_partial(self, request: Request) -> Response:
        return self.render(request, "_arriving.html", arriving=self._arriving())

    def dumps(self, request: Request) -> Response:
        f = _filter(request)
        limit = max(1, _int(request, "limit", PAGE, API_MAX))  # 0 would page in place
        offset = _int(request, "offset", 0, 10**9)
        rows = self.source.dumps(f, limit + 1, offset)
        params = {k: v for k, v in request.query_params.items() if v and k != "offset"}

        def query(**extra: Any) -> str:
            return urlencode({**params, **extra})

        return self.render(
            request,
            "dumps.html",
            f=f,
            raw_since=request.query_params.get("since", ""),
            states=STATES,
            dumps=rows[:limit],
            shown=len(rows[:limit]),
            total=self.source.count(f) if offset == 0 else None,
            more=len(rows) > limit,
            offset=offset,
            limit=limit,
            query=query,
        )

    def dump(self, request: Request) -> Response:
        dump_id = request.path_params["id"]
        d = self.source.dump(dump_id)
        if d is None:
            return self.render(request, "missing.html", status=404, what=f"dump {dump_id}")
        fields = [(k, v) for k, v in d.items() if k not in ("files",)]
        return self.render(
            request,
            "dump.html",
            d=d,
            fields=fields,
            files=self.source.files(dump_id),
            info=self.source.info_text(dump_id),
            msgbuf=self.source.msgbuf(dump_id),
            handler=(
                f"run with {d['handler']}, exit status {d['handler_status']}"
                if d.get("handler")
                else None
            ),
        )

    def groups(self, request: Request) -> Response:
        return self.render(request, "groups.html", groups=self._groups(None))

    def group(self, request: Request) -> Response:
        sig = request.path_params["signature"]
        matches = [g for g in self._groups(None) if sig in g["titles"]]
        if not matches:
            return self.render(request, "missing.html", status=404, what=f"group {sig}")
        g = matches[0]
        dumps = self.source.dumps(DumpFilter(signature=g["signature"]), 20, 0)
        return self.render(request, "group.html", g=g, dumps=dumps)

    def hosts(self, request: Request) -> Response:
        now = time.time()
        per_day = self.source.per_day(now - 30 * DAY, key="host")
        hosts = self.source.hosts()
        for h in hosts:
            h["spark"] = self._spark(per_day, h["host"], now)
        return self.render(request, "hosts.html", hosts=hosts)

    # -- actions -------------------------------------------------------------

    async def delete(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(self.auth, request, form.get("csrf")):
            return PlainTextResponse("403 Forbidden: bad or missing CSRF token\n", status_code=403)
        dump_id = str(form.get("id", ""))
        record = await self._off(self.source.dump, dump_id)
        if record is None:
            return PlainTextResponse(f"no dump {dump_id}\n", status_code=404)
        if record["state"] == "receiving":  # the server is writing its files (as dumps rm)
            text = f"409 Conflict: {dump_id} is still being received (not removed)\n"
            return PlainTextResponse(text, status_code=409)
        await self._off(self.source.delete, dump_id)
        who: Who = request.state.who
        log.warning("dump %s deleted by %s from %s", dump_id, who.user, client_address(request))
        return RedirectResponse("/dumps", status_code=303)

    async def merge(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(self.auth, request, form.get("csrf")):
            return PlainTextResponse("403 Forbidden: bad or missing CSRF token\n", status_code=403)
        a, b = str(form.get("a", "")), str(form.get("b", ""))
        if not a or not b or a == b or "\0" in a + b:
            return PlainTextResponse("merge needs two different signatures\n", status_code=400)
        await self._off(self.source.merge, a, b)
        who: Who = request.state.who
        log.info("groups %s and %s merged by %s", a, b, who.user)
        return RedirectResponse("/groups", status_code=303)

    def download(self, request: Request) -> Response:
        dump_id = request.path_params["id"]
        name = request.query_params.get("file", "")
        match = [f for f in self.source.files(dump_id) if f.name == name and f.exists]
        if not match:
            return PlainTextResponse("404 Not Found\n", status_code=404)
        who: Who = request.state.who
        log.info(
            "download %s of %s by %s from %s", name, dump_id, who.user, client_address(request)
        )
        found = match[0]
        if found.path is not None:
            return FileResponse(found.path, filename=Path(name).name)
        headers = _download_headers(found.size, Path(name).name)
        if request.method == "HEAD":  # the headers only: no GET of the whole object
            return Response(media_type="application/octet-stream", headers=headers)
        try:
            body = self.source.open_file(name)
        except NoEntry:  # gone since it was listed (a bucket unreachable is a 503)
            return PlainTextResponse("404 Not Found\n", status_code=404)
        return _stream(body, headers)

    # -- login ---------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", next=request.query_params.get("next", "/"))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        target = str(form.get("next", "/"))
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # no open redirect
        if not self.auth.enabled or not await run_in_threadpool(  # bcrypt: off the loop
            self.auth.login, client_address(request), user, password, time.time()
        ):
            log.info("failed login for %r from %s", user, client_address(request))
            return self.render(request, "login.html", status=401, failed=True, next=target)
        response = RedirectResponse(target, status_code=303)
        set_session(self.auth, response, user, request.url.scheme == "https")
        log.info("%s logged in from %s", user, client_address(request))
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(self.auth, request, form.get("csrf")):
            return PlainTextResponse("403 Forbidden: bad or missing CSRF token\n", status_code=403)
        who: Who = request.state.who
        if who.session is not None:
            self.auth.logout(who.session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- API -----------------------------------------------------------------

    def api_dumps(self, request: Request) -> Response:
        f = _filter(request)
        limit = _int(request, "limit", 100, API_MAX)
        offset = _int(request, "offset", 0, 10**9)
        rows = self.source.dumps(f, limit, offset)
        return JSONResponse(
            {"dumps": rows, "total": self.source.count(f), "limit": limit, "offset": offset}
        )

    def api_dump(self, request: Request) -> Response:
        d = self.source.dump(request.path_params["id"])
        if d is None:
            return JSONResponse({"error": "no such dump"}, status_code=404)
        return JSONResponse(d)

    def api_groups(self, request: Request) -> Response:
        try:
            since = parse_since(request.query_params.get("since") or None, time.time())
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        return JSONResponse(self.source.groups(since))

    # -- assembly ------------------------------------------------------------

    def app(self) -> Starlette:
        page = guarded(self.auth, machine=False)
        api = guarded(self.auth, machine=True)

        def route(path: str, endpoint: Callable[..., Any], wrap: Any, **kw: Any) -> Route:
            if not inspect.iscoroutinefunction(endpoint):  # reads: off the event loop
                endpoint = self._offloaded(endpoint)
            return Route(path, wrap(endpoint), **kw)

        routes = [
            route("/", self.overview, page),
            route("/partials/arriving", self.arriving_partial, page),
            route("/dumps", self.dumps, page),
            route("/dumps/delete", self.delete, page, methods=["POST"]),
            route("/dumps/{id:path}", self.dump, page),
            route("/groups", self.groups, page),
            route("/groups/merge", self.merge, page, methods=["POST"]),
            route("/groups/{signature:path}", self.group, page),
            route("/hosts", self.hosts, page),
            route("/download/{id:path}", self.download, api),
            route("/api/dumps", self.api_dumps, api),
            route("/api/dumps/{id:path}", self.api_dump, api),
            route("/api/groups", self.api_groups, api),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            route("/logout", self.logout, page, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]

        async def bad_request(request: Request, exc: Exception) -> Response:
            return PlainTextResponse(f"400 Bad Request: {exc}\n", status_code=400)

        async def unavailable(request: Request, exc: Exception) -> Response:
            # A shared catalogue that stayed unreachable through its retries, or the bucket.
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return PlainTextResponse(f"503 Service Unavailable: {exc}\n", status_code=503)

        handlers: dict[Any, Any] = {
            BadRequest: bad_request,
            CatalogueError: unavailable,
            CatalogueUnavailable: unavailable,
            StoreReadError: unavailable,
        }
        app = Starlette(routes=routes, exception_handlers=handlers)
        app.add_middleware(SecurityHeaders)
        if not self.auth.enabled:
            app.add_middleware(LoopbackHostOnly)
        return app


def _download_headers(size: int, filename: str) -> dict[str, str]:
    disposition = f"attachment; filename*=utf-8''{quote(filename)}"
    return {"Content-Length": str(size), "Content-Disposition": disposition}


def _stream(body: BinaryIO, headers: dict[str, str]) -> Response:
    """A download from the bucket, passed through in 1 MiB pieces (never held whole)."""

    def pieces() -> Iterator[bytes]:
        try:
            while chunk := body.read(1 << 20):
                yield chunk
        finally:
            body.close()

    return StreamingResponse(pieces(), media_type="application/octet-stream", headers=headers)


def create_app(config: WebConfig) -> Starlette:
    return Dashboard(config).app()
