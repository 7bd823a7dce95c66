"""`netdumpd`: the server under netdumpd(8)'s own flags, so rc scripts carry over.

getopt string ``a:Dd:i:P:p:``: -a bind address, -D stay in the foreground,
-d dump directory (default /var/crash), -i handler script, -P pidfile
(default /var/run/netdumpd.pid), -p default path (default ".").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from debugnet.errors import DebugnetError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netdumpd",
        description="Receive kernel crash dumps over the network, as FreeBSD's netdumpd(8).",
        epilog="Without -D the server detaches and logs to syslog (daemon facility).",
    )
    p.add_argument(
        "-a",
        dest="bind",
        default="0.0.0.0",
        metavar="addr",
        help="bind the daemon to the given address (default: all addresses)",
    )
    p.add_argument(
        "-D",
        dest="foreground",
        action="store_true",
        help="debug mode: stay in the foreground, log to stdout (errors to stderr)",
    )
    p.add_argument(
        "-d",
        dest="dir",
        default="/var/crash",
        metavar="dumpdir",
        help="save crash dumps in dumpdir (default: /var/crash); it must exist",
    )
    p.add_argument(
        "-i",
        dest="handler",
        metavar="script",
        help="run script after each dump, with arguments: reason (success, timeout or "
        "error), client address, client hostname, info file, core file",
    )
    p.add_argument(
        "-P",
        dest="pidfile",
        default="/var/run/netdumpd.pid",
        metavar="pidfile",
        help="store the process ID in pidfile (default: /var/run/netdumpd.pid)",
    )
    p.add_argument(
        "-p",
        dest="default_path",
        default=".",
        metavar="defaultpath",
        help="directory under dumpdir for dumps whose client names no usable path "
        "(default: dumpdir itself)",
    )
    return p  # fmt: skip


def _daemonize(ready: Callable[[], None]) -> None:
    """Detach as daemon(3) does: fork, new session, fork, stdio to /dev/null.

    The starting process exits only once the daemon has run ``ready`` (its
    pid in the pidfile), so an rc script that reads the pidfile right after
    netdumpd returns never finds the pid of a process that has already gone.
    """
    r, w = os.pipe()
    if os.fork() > 0:
        os.close(w)
        ok = os.read(r, 1)
        os._exit(0 if ok else 1)
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    ready()
    os.write(w, b"1")
    os.close(w)


def main(argv: Sequence[str] | None = None) -> int:
    from debugnet.cli.serve import build_config, configure
    from debugnet.server.app import run_server, setup_logging
    from debugnet.server.config import ServerConfig

    args = build_parser().parse_args(argv)
    serve = argparse.ArgumentParser(add_help=False)
    configure(serve)
    for name, value in vars(serve.parse_args([])).items():  # netdumpd has no flag: serve's default
        setattr(args, name, getattr(args, name, value))
    try:
        config = build_config(args, create_dir=False)
        assert isinstance(config, ServerConfig)
        setup_logging("info", use_syslog=not args.foreground, split_streams=True)
        detach = None if args.foreground else _daemonize
        return run_server(config, Path(args.pidfile), name="netdumpd", detach=detach)
    except (DebugnetError, OSError) as exc:
        print(f"netdumpd: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
