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

from debugnet.catalogue.base import Catalogue

log = logging.getLogger(__name__)

Op = Callable[[Catalogue], None]
_BATCH = 256


class CatalogueWriter:
    """Owns a catalogue and the one thread that writes to it."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._queue: queue.SimpleQueue[Op | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="catalogue", daemon=True)
        self._thread.start()
        self.failures = 0

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
            item = self._queue.get()
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
                try:
                    entry(self.catalogue)
                except Exception:  # a bad write must not stop the catalogue for every dump
                    self.failures += 1
                    log.exception("catalogue write failed")
