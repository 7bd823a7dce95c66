"""Catalogue writes off the receive path: a queue drained by one thread.

A session thread only appends a small closure to an unbounded queue (no lock
held while SQLite works, no disk I/O); the writer thread runs them in order
(with WAL and ``synchronous=NORMAL`` a commit costs no fsync).
Slow work that belongs to the catalogue (reading a minidump's first pages for
the signature) is queued the same way.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from debugnet.catalogue.base import Catalogue, CatalogueUnavailable

log = logging.getLogger(__name__)

Op = Callable[[Catalogue], None]
_BATCH = 256
_RETRY_EVERY = 5.0
"""Seconds between retries of writes that failed (a full disk may be freed)."""
_RETRY_MAX = 10_000


class CatalogueWriter:
    """Owns a catalogue and the one thread that writes to it."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._queue: queue.SimpleQueue[Op | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="catalogue", daemon=True)
        self.failures = 0
        self._retry: list[Op] = []
        self._thread.start()

    def submit(self, op: Op) -> None:
        """Queue ``op(catalogue)``; returns at once."""
        self._queue.put(op)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self.catalogue.close()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_RETRY_EVERY if self._retry else None)
            except queue.Empty:
                self._retry_failed()
                continue
            if self._retry:
                self._retry_failed()
            batch = [item]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for entry in batch:
                if entry is None:
                    return
                if isinstance(entry, threading.Event):
                    entry.set()
                    continue
                self._apply(entry)

    def _apply(self, op: Op) -> None:
        try:
            op(self.catalogue)
        except CatalogueUnavailable as exc:  # a full disk: keep the write for later
            self.failures += 1
            log.error("%s; retried every %.0f s", exc, _RETRY_EVERY)
            if len(self._retry) < _RETRY_MAX:
                self._retry.append(op)
        except Exception:  # a bad write must not stop the catalogue for every dump
            self.failures += 1
            log.exception("catalogue write failed")

    def _retry_failed(self) -> None:
        """Run failed writes again, in order, until one fails again (the disk still full)."""
        pending, self._retry = self._retry, []
        for i, op in enumerate(pending):
            try:
                op(self.catalogue)
            except CatalogueUnavailable as exc:
                log.debug("catalogue write still failing: %s", exc)
                self._retry = pending[i:] + self._retry
                return
            except Exception:
                log.exception("catalogue write failed")
