"""Running the server as a program: logging, pidfile, signals, the start-up line."""

from __future__ import annotations

import logging
import logging.handlers
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from debugnet.errors import error_for_errno
from debugnet.server.config import ServerConfig
from debugnet.server.listener import Server
from debugnet.server.pidfile import PidFile
from debugnet.server.progress import summary_line

log = logging.getLogger(__name__)


class _MaxLevel(logging.Filter):
    def __init__(self, below: int) -> None:
        super().__init__()
        self.below = below

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.below


SYSLOG_ADDRESSES = ("/dev/log", "/var/run/log")
"""Where syslogd listens: Linux, then FreeBSD."""


def _syslog_address(candidates: tuple[str, ...]) -> str | None:
    """The first socket a syslog daemon answers on.

    SysLogHandler itself connects lazily and, with no daemon, prints a
    traceback for every record; a connect here tells at start-up instead.
    """
    for address in candidates:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            probe = socket.socket(socket.AF_UNIX, kind)
            try:
                probe.connect(address)
                return address
            except OSError:
                continue
            finally:
                probe.close()
    return None


def setup_logging(
    level: str,
    *,
    use_syslog: bool,
    split_streams: bool = False,
    syslog_addresses: tuple[str, ...] = SYSLOG_ADDRESSES,
) -> None:
    """Log to stderr (or info to stdout and errors to stderr, as netdumpd -D) or to syslog.

    Without a syslog daemon the log goes to stderr after one warning line.
    """
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level.upper())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if use_syslog:
        address = _syslog_address(syslog_addresses)
        if address is not None:
            handler: logging.Handler = logging.handlers.SysLogHandler(
                address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
            handler.setFormatter(logging.Formatter("netdumpd[%(process)d]: %(message)s"))
            root.addHandler(handler)
            return
        tried = ", ".join(syslog_addresses)
        print(f"warning: no syslog daemon at {tried}; logging to stderr", file=sys.stderr)
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
    detach: Callable[[Callable[[], None]], None] | None = None,
    extras: Callable[[Server], Callable[[], None]] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; every open session then ends as timed out. Exit status 0.

    ``detach`` (daemonizing) runs after the pidfile is held and the socket is
    bound, so a second instance or a taken port is reported, not hidden; it
    calls back in the daemon to put the daemon's pid in the pidfile.
    ``extras`` (dashboard, metrics, alerts) start after that, beside the
    server, and return the function that stops them.
    """
    lock = PidFile(pidfile) if pidfile is not None else None
    if lock is not None:
        try:
            lock.acquire()
        except OSError as exc:
            raise error_for_errno(exc.errno or 0, f"pidfile {pidfile}: {exc.strerror}") from exc
    server = Server(config)
    stop_extras: Callable[[], None] | None = None
    try:
        try:
            server.open()
        except OSError as exc:
            where = f"udp {config.bind}:{config.port}"
            raise error_for_errno(
                exc.errno or 0, f"cannot listen on {where}: {exc.strerror}"
            ) from exc
        # Handlers first: whoever reads "listening" may signal at once.
        server.install_signal_handlers()
        host, port = server.address
        print(
            f"{name}: listening on udp {host}:{port}, dumps go to {config.store or config.dumpdir}",
            flush=True,
        )
        log.info("%s", server.admission.describe())
        if detach is not None:
            detach(lock.rewrite if lock is not None else lambda: None)
        if extras is not None:
            stop_extras = extras(server)
        server.serve_forever()
    finally:
        server.shutdown()  # open dumps end first, so the extras see them end
        if stop_extras is not None:
            stop_extras()
        if lock is not None:
            lock.release()
    log.info("stopped: %s", summary_line({str(k): v for k, v in server.counters.items()}))
    return 0
