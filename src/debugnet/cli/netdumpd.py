"""`netdumpd`: the server under netdumpd(8)'s own flags, so rc scripts carry over.

getopt string ``a:Dd:i:P:p:``: -a bind address, -D stay in the foreground,
-d dump directory (default /var/crash), -i handler script, -P pidfile
(default /var/run/netdumpd.pid), -p default path (default ".").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from debugnet.errors import DebugnetError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="netdumpd", description=__doc__.splitlines()[0])
    p.add_argument("-a", dest="bind", default="0.0.0.0", metavar="addr")
    p.add_argument("-D", dest="foreground", action="store_true")
    p.add_argument("-d", dest="dir", default="/var/crash", metavar="dumpdir")
    p.add_argument("-i", dest="handler", metavar="script")
    p.add_argument("-P", dest="pidfile", default="/var/run/netdumpd.pid", metavar="pidfile")
    p.add_argument("-p", dest="default_path", default=".", metavar="defaultpath")
    return p


def _daemonize() -> None:
    """Detach as daemon(3) does: fork, new session, fork, stdio to /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


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
