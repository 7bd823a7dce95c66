"""Calls to the object store, retried with backoff until ``--store-timeout`` runs out.

botocore retries a few times by itself; a store that is down (restarting,
network cut) needs longer. ``Retrier.call`` keeps trying one operation until
it has failed for ``timeout`` seconds in a row, then raises ``StoreUnreachable``
(an ``OSError`` with ETIMEDOUT, so the info file says why the dump ended).
Client errors that cannot heal (access denied, no such bucket) are not retried.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from debugnet.catalogue.s3location import error_code

log = logging.getLogger(__name__)

T = TypeVar("T")

PERMANENT = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "NoSuchBucket",
        "NoSuchUpload",
        "PreconditionFailed",
        "InvalidBucketName",
        "EntityTooSmall",
        "InvalidPart",
    }
)


class StoreUnreachable(OSError):
    """The object store failed every attempt for ``--store-timeout`` seconds."""

    def __init__(self, timeout: float, cause: BaseException) -> None:
        super().__init__(
            errno.ETIMEDOUT, f"object store unreachable for {timeout:g} s ({_short(cause)})"
        )


class StoreRefused(OSError):
    """The object store answered with an error that retrying cannot fix."""

    def __init__(self, code: str, cause: BaseException) -> None:
        super().__init__(errno.EIO, f"object store refused: {code} ({_short(cause)})")
        self.code = code


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


@dataclass
class Retrier:
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, what: str, op: Callable[[], T]) -> T:
        """Run ``op`` until it succeeds, fails permanently, or has failed for ``timeout`` s."""
        first_failure: float | None = None
        delay = 0.1
        while True:
            try:
                return op()
            except Exception as exc:
                code = error_code(exc)
                if code in PERMANENT:
                    raise StoreRefused(code or "", exc) from exc
                now = time.monotonic()
                first_failure = first_failure if first_failure is not None else now
                if now - first_failure + delay > self.timeout:
                    raise StoreUnreachable(self.timeout, exc) from exc
                log.debug("%s failed (%s); retrying in %.1f s", what, _short(exc), delay)
            self.sleep(delay)
            delay = min(delay * 2, 2.0)
