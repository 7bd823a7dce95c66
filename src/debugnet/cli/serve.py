"""`debugnet serve`: the netdumpd-compatible dump server."""

from __future__ import annotations

import argparse
import ipaddress
import re
import socket
from pathlib import Path

from debugnet.cli import serve_extras
from debugnet.cli.argtypes import address
from debugnet.errors import InvalidArgument

_SIZE = re.compile(r"^(\d+)([kKmMgG]?)(?:i?[bB])?$")


def size(text: str) -> int:
    """``256M``, ``64MiB``, ``1G`` or plain bytes."""
    m = _SIZE.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (like 256M, 1G)")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bind", type=address, default="0.0.0.0", help="address to listen on (default: all)"
    )
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
        "--min-free",
        default="0",
        metavar="SIZE|N%",
        help="free space to keep in the dump directory: bytes, K/M/G/T, or a percentage;"
        " savecore's minfree file (kB) counts too. Below it heralds are refused and a"
        " dump that would cross it ends incomplete (default: 0)",
    )
    parser.add_argument(
        "--max-dump-size",
        metavar="SIZE",
        help="largest dump accepted (bytes, K/M/G/T); larger ones end incomplete",
    )
    parser.add_argument(
        "--keep-per-host",
        type=int,
        metavar="N",
        help="keep the newest N ended dumps per host, delete older ones",
    )
    parser.add_argument(
        "--max-total",
        metavar="SIZE",
        help="delete the oldest ended dumps while all dumps take more than SIZE",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        metavar="DAYS",
        help="delete ended dumps older than DAYS (by when they ended)",
    )
    parser.add_argument(
        "--no-write-behind",
        action="store_true",
        help="do not sync data while it arrives (the whole dump is synced before FINISHED's ack)",
    )
    parser.add_argument(
        "--handler-jobs",
        type=int,
        default=4,
        metavar="N",
        help="handler processes at once; up to 1024 more runs wait (default: 4)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="answer heralds only from this network (repeatable; default: everyone)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=256,
        metavar="N",
        help="sessions at once; at the limit a herald-only session silent 2 s gives way,"
        " else the herald is refused (default: 256)",
    )
    parser.add_argument(
        "--max-sessions-per-net",
        type=int,
        default=32,
        metavar="N",
        help="sessions at once from one /24, displacing as --max-sessions (default: 32)",
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
    from debugnet.server.handler import check_handler
    from debugnet.server.retention import RetentionPolicy
    from debugnet.storage.dumpdir import check_dump_dir
    from debugnet.storage.limits import Floor, parse_size

    dumpdir = check_dump_dir(Path(args.dir).absolute(), create=create_dir)
    default = Path(args.default_path)
    if default.is_absolute() or ".." in default.parts:
        raise InvalidArgument(
            f"default path {args.default_path!r} must be relative to the dump dir"
        )
    store = getattr(args, "store", None)
    if store is not None:
        from debugnet.catalogue.s3location import S3Location

        S3Location.parse(store)  # a bad URL is a usage error now, not at the first dump
    elif not (dumpdir / default).is_dir():
        raise InvalidArgument(f"default path {dumpdir / default} is not a directory")
    handler = check_handler(Path(args.handler)) if args.handler else None
    if not 0 < args.port < 65536:
        raise InvalidArgument(f"port {args.port} out of range")
    if args.timeout <= 0:
        raise InvalidArgument("timeout must be positive")
    min_free = Floor.parse(args.min_free)
    max_dump_size = parse_size(args.max_dump_size) if args.max_dump_size else None
    if args.keep_per_host is not None and args.keep_per_host < 1:
        raise InvalidArgument("--keep-per-host must be at least 1")
    if args.max_age is not None and args.max_age <= 0:
        raise InvalidArgument("--max-age must be positive")
    retention = RetentionPolicy(
        args.keep_per_host, parse_size(args.max_total) if args.max_total else None, args.max_age
    )
    for cidr in args.allow:
        try:
            ipaddress.IPv4Network(cidr, strict=False)
        except ValueError as exc:
            raise InvalidArgument(f"--allow {cidr}: {exc}") from None
    if args.max_sessions < 1 or args.max_sessions_per_net < 1 or args.handler_jobs < 1:
        raise InvalidArgument(
            "--max-sessions, --max-sessions-per-net and --handler-jobs must be at least 1"
        )
    return ServerConfig(
        dumpdir=dumpdir,
        bind=args.bind,
        port=args.port,
        default_path=args.default_path,
        handler=handler,
        timeout=args.timeout,
        resolve=not args.no_resolve,
        rcvbuf=args.rcvbuf,
        handler_jobs=args.handler_jobs,
        write_behind=not args.no_write_behind,
        min_free=min_free,
        retention=retention,
        max_dump_size=max_dump_size,
        allow=tuple(args.allow),
        max_sessions=args.max_sessions,
        max_sessions_per_net=args.max_sessions_per_net,
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
