"""Reverse DNS that never blocks serving and never splits a client across two names.

Lookups run in a small thread pool with a bounded number pending (a flood of
heralds from new addresses cannot queue unbounded work). Names are cached per
address: once an address has a good name, later dumps get it at once, the
lookup is refreshed in the background now and then, and a refresh that is
slow or fails keeps the last good name, so a slow DNS server never files a
client's next dump, bounds file and ``.last`` links under its address
instead. Only at first contact, when a lookup outlasts ``timeout``, does the
address stand in; the lookup still completes in the background and names
the next dump.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import threading
import time
from collections import OrderedDict

from debugnet.storage.naming import safe_hostname

log = logging.getLogger(__name__)

REFRESH = 300.0
"""Seconds after which a cached name is looked up again (in the background)."""


class Resolver:
    def __init__(
        self,
        enabled: bool = True,
        timeout: float = 2.0,
        workers: int = 4,
        max_pending: int = 64,
        cache_size: int = 4096,
    ) -> None:
        self.enabled = enabled
        self.timeout = timeout
        self.max_pending = max_pending
        self.cache_size = cache_size
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="rdns")
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pending: dict[str, concurrent.futures.Future[str | None]] = {}
        self.skipped = 0
        """Lookups not started because ``max_pending`` were already waiting."""

    def hostname(self, ip: str) -> str:
        """The short host name for ``ip``: cached, looked up within ``timeout``, or ``ip``."""
        if not self.enabled:
            return ip
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(ip)
            if cached is not None:
                self._cache.move_to_end(ip)
        if cached is not None:
            name, when = cached
            if now - when >= REFRESH:
                self._lookup(ip)  # in the background; this dump keeps the known name
            return name
        future = self._lookup(ip)
        if future is None:
            return ip
        try:
            found = future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            log.info("reverse DNS for %s timed out (%.1fs); using the address", ip, self.timeout)
            return ip
        return found if found is not None else ip

    def _lookup(self, ip: str) -> concurrent.futures.Future[str | None] | None:
        """The lookup in flight for ``ip``, started if none is and there is room."""
        with self._lock:
            future = self._pending.get(ip)
            if future is not None:
                return future
            if len(self._pending) >= self.max_pending:
                self.skipped += 1
                return None
            try:
                future = self._pool.submit(self._resolve, ip)
            except RuntimeError:  # shut down, or no thread could start
                return None
            self._pending[ip] = future
            return future

    def _resolve(self, ip: str) -> str | None:
        """Runs in the pool: the safe short name, cached, or None."""
        try:
            try:
                name = socket.gethostbyaddr(ip)[0]
            except OSError:
                return None
            short = safe_hostname(name, ip)
            if short == ip:
                return None
            with self._lock:
                self._cache[ip] = (short, time.monotonic())
                self._cache.move_to_end(ip)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return short
        finally:
            with self._lock:
                self._pending.pop(ip, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
