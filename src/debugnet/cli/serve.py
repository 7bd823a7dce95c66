"""`debugnet serve`: the netdumpd-compatible dump server."""

from __future__ import annotations

import argparse
import re
import socket
from pathlib import Path

from debugnet.cli import serve_extras
from debugnet.errors import InvalidArgument

_SIZE = re.compile(r"^(\d+)([kKmMgG]?)(?:i?[bB])?$")


def size(text: str) -> int:
    """``256M``, ``64MiB``, ``1G`` or plain bytes."""
    m = _SIZE.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (like 256M, 1G)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=20023, help="herald port (default: 20023)")
    parser.add_argument(
        "--dir", default="./crash", help="dump directory, created if missing (default: ./crash)"
    )
    parser.add_argument(
        "--default-path",
        default=".",
        help="directory under --dir for clients without a usable herald path (default: .)",
    )
    parser.add_argument(
        "--handler", help="script run after each dump: reason ip hostname infofile corefile"
    )
    parser.add_argument("--pidfile", help="write the pid here; refuse to start if it is held")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds of client silence (default: 600)"
    )
    parser.add_argument(
        "--no-resolve", action="store_true", help="name files by address, not reverse DNS"
    )
    parser.add_argument(
        "--rcvbuf", type=int, default=4 << 20, help="per-session socket receive buffer in bytes"
    )
    parser.add_argument(
        "--layout",
        choices=["netdumpd", "savecore"],
        default="netdumpd",
        help="file names: netdumpd's vmcore.<host>.N, or savecore's <host>/vmcore.N",
    )
    parser.add_argument(
        "--no-catalogue",
        action="store_true",
        help="do not record dumps in <dir>/catalogue.sqlite",
    )
    parser.add_argument(
        "--store",
        metavar="s3://BUCKET[/PREFIX]",
        help="send dumps to S3-compatible object storage (AWS configuration as usual)",
    )
    parser.add_argument(
        "--catalogue",
        metavar="URL",
        help="a shared catalogue (postgresql://...) or an SQLite file (default: in --dir)",
    )
    parser.add_argument(
        "--collector-id",
        help="this collector's name in the catalogue and the bucket (default: the hostname)",
    )
    parser.add_argument(
        "--spool-max",
        type=size,
        default=256 << 20,
        help="out-of-order bytes held per session for an object store (default: 256M)",
    )
    parser.add_argument(
        "--store-timeout",
        type=float,
        default=30.0,
        help="seconds the object store may be unreachable before a dump fails (default: 30)",
    )
    parser.add_argument(
        "--parts-in-flight",
        type=int,
        default=4,
        help="parts of one dump uploading at once (default: 4)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
    serve_extras.configure(parser)


def build_config(args: argparse.Namespace, *, create_dir: bool) -> object:
    from debugnet.server.config import ServerConfig
    from debugnet.server.dumpdir import check_dump_dir
    from debugnet.server.handler import check_handler

    dumpdir = check_dump_dir(Path(args.dir).absolute(), create=create_dir)
    default = Path(args.default_path)
    if default.is_absolute() or ".." in default.parts:
        raise InvalidArgument(
            f"default path {args.default_path!r} must be relative to the dump dir"
        )
    store = getattr(args, "store", None)
    if store is not None:
        from debugnet.server.s3.location import S3Location

        S3Location.parse(store)  # a bad URL is a usage error now, not at the first dump
    elif not (dumpdir / default).is_dir():
        raise InvalidArgument(f"default path {dumpdir / default} is not a directory")
    handler = check_handler(Path(args.handler)) if args.handler else None
    if not 0 < args.port < 65536:
        raise InvalidArgument(f"port {args.port} out of range")
    if args.timeout <= 0:
        raise InvalidArgument("timeout must be positive")
    return ServerConfig(
        dumpdir=dumpdir,
        bind=args.bind,
        port=args.port,
        default_path=args.default_path,
        handler=handler,
        timeout=args.timeout,
        resolve=not args.no_resolve,
        rcvbuf=args.rcvbuf,
        layout=getattr(args, "layout", "netdumpd"),
        catalogue=not getattr(args, "no_catalogue", False),
        collector_id=getattr(args, "collector_id", None) or socket.gethostname(),
        store=store,
        catalogue_url=getattr(args, "catalogue", None),
        spool_max=getattr(args, "spool_max", 256 << 20),
        store_timeout=getattr(args, "store_timeout", 30.0),
        parts_in_flight=max(1, getattr(args, "parts_in_flight", 4)),
    )


def run(args: argparse.Namespace) -> int:
    from debugnet.server.app import run_server, setup_logging
    from debugnet.server.config import ServerConfig

    setup_logging(args.log_level, use_syslog=args.syslog)
    config = build_config(args, create_dir=True)
    assert isinstance(config, ServerConfig)
    serve_extras.check(args)
    return run_server(
        config,
        Path(args.pidfile) if args.pidfile else None,
        extras=(lambda server: serve_extras.start(args, server))
        if serve_extras.wanted(args)
        else None,
    )
