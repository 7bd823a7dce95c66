"""The operator's handler script, run as netdumpd runs it, without waiting on it."""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from debugnet.errors import InvalidArgument
from debugnet.server.admission import RateLimitedLog

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

    No shell and an empty environment, as netdumpd. Runs go through a queue
    served by ``jobs`` threads, so a thousand dumps ending at once start at
    most ``jobs`` processes; ``queue_size`` more wait. A run that finds the
    queue full is logged (at most once a minute) and counted in ``dropped``,
    never a crash. ``wait`` lets shutdown finish what is queued.
    """

    def __init__(
        self,
        handler: Path | None,
        dumpdir: Path,
        jobs: int = 4,
        queue_size: int = 1024,
        on_exit: Callable[[Path, int], None] | None = None,
    ) -> None:
        self.handler = handler
        self.dumpdir = dumpdir
        self.jobs = jobs
        self.dropped = 0
        self.on_exit = on_exit
        """Told (info file, exit status) when a handler exits: the catalogue records it."""
        self._queue: queue.Queue[tuple[list[str], Path]] = queue.Queue(maxsize=queue_size)
        self.on_status: Callable[[str], None] | None = None
        """Told each run's exit status as a word (``0``, ``3``, ``signal 9``, ``not started``)."""
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._full_log = RateLimitedLog()

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
        self._start_workers()
        try:
            self._queue.put_nowait((argv, info))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            self._full_log.warn(
                "handler queue full",
                f"handler queue full ({self._queue.maxsize} waiting); not run for {ip} {info.name}",
                time.monotonic(),
                logging.ERROR,
            )

    def _start_workers(self) -> None:
        """Start the job threads at the first run (a failed start is retried at the next)."""
        with self._lock:
            while len(self._threads) < self.jobs:
                thread = threading.Thread(target=self._serve, name="handler", daemon=True)
                try:
                    thread.start()
                except RuntimeError as exc:
                    log.error("cannot start a handler thread: %s", exc)
                    return
                self._threads.append(thread)

    def _serve(self) -> None:
        while True:
            argv, info = self._queue.get()
            try:
                self._run(argv, info)
            finally:
                self._queue.task_done()

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

    def waiting(self) -> int:
        """Runs queued and not yet started."""
        return self._queue.qsize()

    def _status(self, status: str) -> None:
        if self.on_status is not None:
            self.on_status(status)

    def wait(self, timeout: float = 10.0) -> None:
        """Until every queued run has finished, or ``timeout`` seconds."""
        q = self._queue
        with q.all_tasks_done:
            q.all_tasks_done.wait_for(lambda: q.unfinished_tasks == 0, timeout)
