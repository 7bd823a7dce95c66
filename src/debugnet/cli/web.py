"""`debugnet web`: the dashboard and JSON API over a dump directory's catalogue, or a shared
one (``--catalogue postgresql://…``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from debugnet.cli.argtypes import address
from debugnet.errors import InvalidArgument

if TYPE_CHECKING:
    from debugnet.web.catalogue_source import CatalogueSource


def add_auth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auth-file",
        help="users allowed in, as `htpasswd -B` writes them (user:$2y$... lines); "
        "required unless the dashboard binds a loopback address",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        help="dump directory (default: ./crash; with --catalogue, none: files are not local)",
    )
    parser.add_argument(
        "--catalogue",
        metavar="URL",
        help="a shared catalogue (postgresql://...) or an SQLite file (default: in --dir)",
    )
    parser.add_argument(
        "--bind", type=address, default="127.0.0.1", help="address (default: 127.0.0.1)"
    )
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
        from debugnet.web.run import WebServer
    except ImportError as exc:
        raise missing_extra(exc, "web") from exc
    if not 0 < args.port < 65536:
        raise InvalidArgument(f"port {args.port} out of range")
    users = require_auth_for(args.bind, Path(args.auth_file) if args.auth_file else None)
    dumpdir = _dumpdir(args.catalogue, args.dir)
    source = _open_source(args.catalogue, dumpdir, args.store)
    if args.catalogue is None and args.store is None and dumpdir is not None and source.size() == 0:
        from debugnet.catalogue import reindex

        found = reindex(source.catalogue, dumpdir)
        print(f"debugnet web: empty catalogue; {found} dumps indexed from the files", flush=True)
    server = WebServer(create_app(WebConfig(source, Auth(users))), args.bind, args.port)
    shown = _shown(args.catalogue, dumpdir, args.store)
    print(f"debugnet web: dashboard at {server.url}/ for {shown}", flush=True)
    server.serve()
    return 0


def _dumpdir(url: str | None, folder: str | None) -> Path | None:
    """``--dir``: without ``--catalogue`` it holds the catalogue (``./crash`` by default);
    with one, it is only where the files are, if given."""
    if url is None and folder is None:
        folder = "./crash"
    dumpdir = Path(folder).absolute() if folder is not None else None
    if dumpdir is not None and not dumpdir.is_dir():
        raise InvalidArgument(f"dump directory {dumpdir} does not exist")
    return dumpdir


def _open_source(url: str | None, dumpdir: Path | None, store: str | None) -> CatalogueSource:
    """The catalogue to show and where the files are: ``--store``'s bucket, or ``dumpdir``."""
    from debugnet.catalogue.dumpfiles import BucketFiles
    from debugnet.catalogue.s3location import S3Location
    from debugnet.web.catalogue_source import CatalogueSource

    stored = BucketFiles(S3Location.parse(store)) if store is not None else None
    return CatalogueSource.open_at(url, dumpdir, stored=stored)


def _shown(url: str | None, dumpdir: Path | None, store: str | None) -> str:
    where = f" (files in {store or dumpdir})" if store or (url and dumpdir) else ""
    if url is None:
        return f"{dumpdir}{where}"
    from debugnet.catalogue.postgres import redact

    return redact(url) + where
