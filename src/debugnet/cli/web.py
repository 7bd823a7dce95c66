"""`debugnet web`: the dashboard and JSON API over a dump directory's catalogue."""

from __future__ import annotations

import argparse
from pathlib import Path

from debugnet.errors import InvalidArgument


def add_auth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auth-file",
        help="users allowed in, as `htpasswd -B` writes them (user:$2y$... lines); "
        "required unless the dashboard binds a loopback address",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default="./crash", help="dump directory (default: ./crash)")
    parser.add_argument("--bind", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8023, help="TCP port (default: 8023)")
    parser.add_argument(
        "--store",
        metavar="s3://BUCKET[/PREFIX]",
        help="the bucket the collectors' --store names: files are read and downloads "
        "streamed from it",
    )
    add_auth_option(parser)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def missing_extra(exc: ImportError, extra: str) -> InvalidArgument:
    return InvalidArgument(f"{exc.name} is not installed: pip install 'debugnet[{extra}]'")


def run(args: argparse.Namespace) -> int:
    from debugnet.server.app import setup_logging

    setup_logging(args.log_level, use_syslog=False)
    try:
        from debugnet.web.app import WebConfig, create_app
        from debugnet.web.auth import Auth, require_auth_for
        from debugnet.web.catalogue_source import CatalogueSource
        from debugnet.web.run import WebServer
    except ImportError as exc:
        raise missing_extra(exc, "web") from exc
    if not 0 < args.port < 65536:
        raise InvalidArgument(f"port {args.port} out of range")
    users = require_auth_for(args.bind, Path(args.auth_file) if args.auth_file else None)
    dumpdir = Path(args.dir).absolute()
    if not dumpdir.is_dir():
        raise InvalidArgument(f"dump directory {dumpdir} does not exist")
    from debugnet.catalogue.dumpfiles import open_dump_files

    source = CatalogueSource.open(dumpdir, open_dump_files(dumpdir, args.store))
    if source.size() == 0:
        from debugnet.catalogue import reindex

        found = reindex(source.catalogue, dumpdir)
        print(f"debugnet web: empty catalogue; {found} dumps indexed from the files", flush=True)
    server = WebServer(create_app(WebConfig(source, Auth(users))), args.bind, args.port)
    print(f"debugnet web: dashboard at {server.url}/ for {dumpdir}", flush=True)
    server.serve()
    return 0
