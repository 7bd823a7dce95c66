"""Write-behind: dump data goes to stable storage while it arrives, off the receive path.

FINISHED may be acked only once the dump is durable. Left to the end, the
fsync of a multi-GiB dump flushes all of it at once and can take longer than
a kernel waits for its ack. So each dump hands ranges it has written (every
few MiB) to one ``WriteBehind`` thread per store, which starts their
writeback and waits for it (``sync_file_range`` on Linux, else ``fdatasync``).
The final fsync then has only the tail and the metadata left. The receive
path only queues: a full queue drops the request (the final fsync covers
it), a closed dump's descriptor is never touched (each request holds its own
``dup``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

CHUNK = 8 << 20
"""Bytes a dump writes between two write-behind requests."""
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4

Syncer = Callable[[int, int, int], None]
"""Makes ``(fd, offset, length)`` of a file durable, as far as data goes."""


def _libc_sync_file_range() -> Syncer | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)

    def sync_range(fd: int, offset: int, length: int) -> None:
        if fn(fd, offset, length, _WAIT_BEFORE | _WRITE | _WAIT_AFTER) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return sync_range


def _fdatasync(fd: int, _offset: int, _length: int) -> None:
    os.fdatasync(fd)


def default_syncer() -> Syncer:
    return _libc_sync_file_range() or _fdatasync


class WriteBehind:
    """One thread that makes written ranges durable for every dump of a store."""

    def __init__(self, syncer: Syncer | None = None, depth: int = 256) -> None:
        self.syncer = syncer or default_syncer()
        self.synced = 0
        """Bytes made durable ahead of the final fsync."""
        self.dropped = 0
        self._queue: queue.Queue[tuple[int, int, int]] = queue.Queue(maxsize=depth)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, fd: int, offset: int, length: int) -> None:
        """Queue ``[offset, offset+length)`` of ``fd`` (duplicated here); never blocks."""
        if not self._started():
            return
        try:
            dup = os.dup(fd)
        except OSError:
            return
        try:
            self._queue.put_nowait((dup, offset, length))
        except queue.Full:
            os.close(dup)
            self.dropped += 1

    def _started(self) -> bool:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._main, name="write-behind", daemon=True)
                try:
                    thread.start()
                except RuntimeError:
                    return False  # no thread: the final fsync does it all
                self._thread = thread
            return True

    def _main(self) -> None:
        while True:
            fd, offset, length = self._queue.get()
            try:
                self.syncer(fd, offset, length)
                self.synced += length
            except OSError as exc:
                log.debug("write-behind: %s", exc)  # the final fsync reports what matters
            finally:
                os.close(fd)
                self._queue.task_done()

    def drain(self, timeout: float = 10.0) -> None:
        """Until every queued range is done (tests, shutdown)."""
        q = self._queue
        with q.all_tasks_done:
            q.all_tasks_done.wait_for(lambda: q.unfinished_tasks == 0, timeout)
