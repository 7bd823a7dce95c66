"""The operator's handler script, run as netdumpd runs it, without waiting on it."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from debugnet.errors import InvalidArgument

log = logging.getLogger(__name__)


def check_handler(path: Path) -> Path:
    """Refuse at start-up what could never run, rather than at the first dump."""
    if not path.is_file():
        raise InvalidArgument(f"handler {path}: no such file")
    if not os.access(path, os.X_OK):
        raise InvalidArgument(f"handler {path}: not executable")
    return path.resolve()


class HandlerRunner:
    """Runs ``handler reason ip hostname infofile corefile`` from the dump directory.

    No shell and an empty environment, as netdumpd. Each run is reaped by a
    thread that logs the exit status; ``wait`` lets shutdown finish them.
    """

    def __init__(
        self,
        handler: Path | None,
        dumpdir: Path,
        on_exit: Callable[[Path, int], None] | None = None,
    ) -> None:
        self.handler = handler
        self.dumpdir = dumpdir
        self.on_exit = on_exit
        """Told (info file, exit status) when a handler exits: the catalogue records it."""
        self.on_status: Callable[[str], None] | None = None
        """Told each run's exit status as a word (``0``, ``3``, ``signal 9``, ``not started``)."""
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, reason: str, ip: str, host: str, info: Path, core: Path) -> None:
        if self.handler is None:
            return
        argv = [
            str(self.handler),
            reason,
            ip,
            host,
            self._relative(info),
            self._relative(core),
        ]
        thread = threading.Thread(target=self._run, args=(argv, info), name="handler", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _relative(self, path: Path) -> str:
        """As netdumpd names them: ``<path>/<file>``, so ``./info.h.0`` for the default "."."""
        directory = os.path.relpath(path.parent, self.dumpdir)
        return f"{directory}/{path.name}"

    def _run(self, argv: list[str], info: Path) -> None:
        try:
            proc = subprocess.run(
                argv, cwd=self.dumpdir, env={}, stdin=subprocess.DEVNULL, check=False
            )
        except OSError as exc:
            log.error("handler %s failed to start: %s", argv[0], exc)
            self._status("not started")
            return
        level = logging.INFO if proc.returncode == 0 else logging.WARNING
        log.log(level, "handler %s %s exited with status %d", argv[0], argv[1], proc.returncode)
        code = proc.returncode
        self._status(str(code) if code >= 0 else f"signal {-code}")
        if self.on_exit is not None:
            self.on_exit(info, proc.returncode)

    def _status(self, status: str) -> None:
        if self.on_status is not None:
            self.on_status(status)

    def wait(self, timeout: float = 10.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
