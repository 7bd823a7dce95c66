"""`debugnet serve --web/--metrics/--notify`: the dashboard, metrics and alerts beside the server.

Each runs on threads of its own and reads the server only through its
``Monitor`` (counts, dumps arriving) and the catalogue; none can slow a dump.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from debugnet.cli.web import add_auth_option, missing_extra
from debugnet.errors import InvalidArgument

if TYPE_CHECKING:
    from debugnet.catalogue import Catalogue
    from debugnet.server.listener import Server
    from debugnet.server.monitor import Monitor
    from debugnet.web.live import Arriving

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web", metavar="ADDR:PORT", help="serve the dashboard and JSON API here (e.g. :8023)"
    )
    parser.add_argument(
        "--metrics", metavar="ADDR:PORT", help="serve Prometheus metrics at /metrics here"
    )
    parser.add_argument(
        "--notify",
        metavar="URL",
        action="append",
        default=[],
        help="POST a JSON alert here when a dump ends (repeatable)",
    )
    add_auth_option(parser)


class LiveView:
    """The dashboard's read-only view of the server's sessions (``web.live.LiveStatus``)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def arriving(self) -> Sequence[Arriving]:
        from debugnet.web.live import Arriving

        return [
            Arriving(s.host, s.ip, s.bytes, s.length, s.elapsed, s.idle)
            for s in self.monitor.arriving()
        ]


def wanted(args: argparse.Namespace) -> bool:
    """Whether any extra was asked for (a plain server imports none of their code)."""
    return bool(args.notify or args.metrics or args.web or args.auth_file)


def check(args: argparse.Namespace) -> None:
    """Refuse bad options before the server binds anything."""
    if not wanted(args):
        return
    from debugnet.server.metrics import parse_address
    from debugnet.server.notify import check_url

    for url in args.notify:
        check_url(url)
    if args.metrics:
        parse_address(args.metrics, "--metrics")
    if args.web:
        from debugnet.web.auth import require_auth_for

        host, _ = parse_address(args.web, "--web")
        require_auth_for(host, Path(args.auth_file) if args.auth_file else None)
    elif args.auth_file:
        raise InvalidArgument("--auth-file needs --web")


def start(args: argparse.Namespace, server: Server) -> Callable[[], None]:
    """Start what the options ask for; returns the function that stops it all."""
    closers: list[Callable[[], None]] = []
    try:
        _start(args, server, closers)
    except BaseException:
        for close in reversed(closers):
            close()
        raise

    def stop() -> None:
        for close in reversed(closers):
            try:
                close()
            except Exception:
                log.exception("stopping %s", close)

    return stop


_SCRAPE_RETRY = 2.0  # seconds a scrape waits for a lost catalogue connection


def _catalogue_of(server: Server, retry_for: float | None = None) -> Catalogue:
    """A connection of our own to the catalogue the server writes (``--catalogue``, or its
    directory's), so the feed, the metrics and the dashboard read what it wrote.

    ``retry_for``: how long a lost shared-database connection is retried (the
    default, minutes, is for writers; a scrape must answer in seconds).
    """
    from debugnet.catalogue import open_catalogue_at

    config = server.config
    return open_catalogue_at(config.catalogue_url, config.dumpdir, retry_for=retry_for)


def _start(args: argparse.Namespace, server: Server, closers: list[Callable[[], None]]) -> None:
    from debugnet.server.feed import EndedFeed
    from debugnet.server.metrics import parse_address

    dumpdir = server.config.dumpdir
    dashboard: str | None = None
    if args.web:
        dashboard = _start_web(args, server, closers)
    notifier = None
    if args.notify:
        from debugnet.server.notify import Notifier

        notifier = Notifier(args.notify, dashboard)
        closers.append(notifier.close)
    if args.web or notifier is not None:
        served = server.catalogue  # the server's own catalogue, unless --no-catalogue
        feed = EndedFeed(
            dumpdir,
            _catalogue_of(server),
            notifier.submit if notifier else None,
            writer=served.writer if served is not None else None,
            layout=server.config.layout,
        )
        server.monitor.on_ended(feed.submit)
        closers.append(feed.close)
    if args.metrics:
        try:
            from debugnet.server.metrics import MetricsServer, Sources
        except ImportError as exc:
            raise missing_extra(exc, "metrics") from exc
        catalogue = _catalogue_of(server, retry_for=_SCRAPE_RETRY)
        closers.append(catalogue.close)
        sources = Sources(
            server.monitor.tally,
            dumpdir,
            catalogue_size=catalogue.count,
            deliveries=notifier.snapshot if notifier is not None else None,
        )
        host, port = parse_address(args.metrics, "--metrics")
        try:
            metrics = MetricsServer(sources, host, port)
        except ImportError as exc:
            raise missing_extra(exc, "metrics") from exc
        except OSError as exc:
            raise InvalidArgument(f"cannot serve metrics on tcp {host}:{port}: {exc}") from None
        closers.append(metrics.close)
        mhost, mport = metrics.address
        print(f"debugnet serve: metrics at http://{mhost}:{mport}/metrics", flush=True)


def _start_web(args: argparse.Namespace, server: Server, closers: list[Callable[[], None]]) -> str:
    from debugnet.server.metrics import parse_address

    try:
        from debugnet.web.app import WebConfig, create_app
        from debugnet.web.auth import Auth, require_auth_for
        from debugnet.web.catalogue_source import CatalogueSource
        from debugnet.web.run import WebServer
    except ImportError as exc:
        raise missing_extra(exc, "web") from exc
    host, port = parse_address(args.web, "--web")
    users = require_auth_for(host, Path(args.auth_file) if args.auth_file else None)
    from debugnet.catalogue.dumpfiles import open_dump_files

    config = server.config
    stored = open_dump_files(config.dumpdir, config.store)
    source = CatalogueSource.open_at(config.catalogue_url, config.dumpdir, stored=stored)
    closers.append(source.close)
    backend = server.backend  # the floor it refuses dumps at, as it computes it now

    def floor() -> int:
        return backend.free_bytes() - backend.room()

    live = LiveView(server.monitor)
    app = create_app(WebConfig(source, Auth(users), live=live, floor=floor))
    web = WebServer(app, host, port)
    web.start()
    closers.append(web.close)
    print(f"debugnet serve: dashboard at {web.url}/", flush=True)
    return web.url
