"""Reverse DNS that never blocks serving: a bounded wait in a small thread pool."""

from __future__ import annotations

import concurrent.futures
import logging
import socket

from debugnet.server.naming import safe_hostname

log = logging.getLogger(__name__)


class Resolver:
    def __init__(self, enabled: bool = True, timeout: float = 2.0, workers: int = 4) -> None:
        self.enabled = enabled
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="rdns")

    def hostname(self, ip: str) -> str:
        """The short host name for ``ip``, or ``ip`` itself on failure or timeout."""
        if not self.enabled:
            return ip
        future = self._pool.submit(socket.gethostbyaddr, ip)
        try:
            name = future.result(timeout=self.timeout)[0]
        except concurrent.futures.TimeoutError:
            log.info("reverse DNS for %s timed out (%.1fs); using the address", ip, self.timeout)
            return ip
        except OSError:
            return ip
        return safe_hostname(name, ip)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
