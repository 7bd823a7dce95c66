"""Running the server as a program: logging, pidfile, signals, the start-up line."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from pathlib import Path

from debugnet.errors import error_for_errno
from debugnet.server.config import ServerConfig
from debugnet.server.listener import Server
from debugnet.server.pidfile import PidFile

log = logging.getLogger(__name__)


class _MaxLevel(logging.Filter):
    def __init__(self, below: int) -> None:
        super().__init__()
        self.below = below

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.below


def setup_logging(level: str, *, use_syslog: bool, split_streams: bool = False) -> None:
    """Log to stderr (or info to stdout and errors to stderr, as netdumpd -D) or to syslog."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level.upper())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if use_syslog:
        address = "/dev/log" if os.path.exists("/dev/log") else "/var/run/log"
        try:
            handler: logging.Handler = logging.handlers.SysLogHandler(
                address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
        except OSError as exc:
            print(f"warning: no syslog at {address} ({exc}); logging to stderr", file=sys.stderr)
        else:
            handler.setFormatter(logging.Formatter("netdumpd[%(process)d]: %(message)s"))
            root.addHandler(handler)
            return
    if split_streams:
        out = logging.StreamHandler(sys.stdout)
        out.addFilter(_MaxLevel(logging.WARNING))
        out.setFormatter(fmt)
        root.addHandler(out)
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(fmt)
        root.addHandler(err)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt)
    root.addHandler(handler)


def run_server(
    config: ServerConfig,
    pidfile: Path | None,
    name: str = "debugnet serve",
    detach: Callable[[], None] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; every open session then ends as timed out. Exit status 0.

    ``detach`` (daemonizing) runs after the pidfile is held and the socket is
    bound, so a second instance or a taken port is reported, not hidden.
    """
    lock = PidFile(pidfile) if pidfile is not None else None
    if lock is not None:
        try:
            lock.acquire()
        except OSError as exc:
            raise error_for_errno(exc.errno or 0, f"pidfile {pidfile}: {exc.strerror}") from exc
    server = Server(config)
    try:
        try:
            server.open()
        except OSError as exc:
            where = f"udp {config.bind}:{config.port}"
            raise error_for_errno(
                exc.errno or 0, f"cannot listen on {where}: {exc.strerror}"
            ) from exc
        host, port = server.address
        print(
            f"{name}: listening on udp {host}:{port}, dumps go to {config.store or config.dumpdir}",
            flush=True,
        )
        if detach is not None:
            detach()
            if lock is not None:
                lock.rewrite()
        server.install_signal_handlers()
        server.serve_forever()
    finally:
        server.shutdown()
        if lock is not None:
            lock.release()
    log.info("stopped: %s", {str(k): v for k, v in server.counters.items()})
    return 0
