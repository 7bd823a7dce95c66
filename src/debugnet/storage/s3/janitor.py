"""What the store could not take when a dump ended, retried until it can.

A dump that ends because the store is down leaves a multipart upload that
must be aborted (else its parts are kept, and billed, forever) and an info
object that must say how the dump ended. The janitor thread retries both
every few seconds until the store answers; the collector meanwhile keeps
serving (new dumps try the store again on their own).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from debugnet.catalogue.s3location import error_code

if TYPE_CHECKING:
    from debugnet.storage.s3.store import S3Store

log = logging.getLogger(__name__)


class Janitor:
    def __init__(self, store: S3Store, interval: float = 5.0) -> None:
        self._store = store
        self._interval = interval
        self._aborts: dict[tuple[str, str], None] = {}
        self._infos: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._aborts) + len(self._infos)

    def abort_later(self, key: str, upload_id: str) -> None:
        with self._lock:
            self._aborts[(key, upload_id)] = None
        self._start()

    def put_later(self, key: str, body: bytes) -> None:
        with self._lock:
            self._infos[key] = body
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="s3-janitor", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self.run_once()

    def run_once(self) -> None:
        """One pass over everything pending; what fails stays for the next."""
        client, bucket = self._store.client, self._store.location.bucket
        with self._lock:
            aborts, infos = list(self._aborts), dict(self._infos)
        for key, upload_id in aborts:
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception as exc:
                if error_code(exc) != "NoSuchUpload":
                    log.debug("abort of %s still failing: %s", key, exc)
                    continue
            log.info("aborted the upload of %s now that the store is back", key)
            with self._lock:
                self._aborts.pop((key, upload_id), None)
        for key, body in infos.items():
            try:
                client.put_object(
                    Bucket=bucket, Key=key, Body=body, Metadata={"collector": self._store.collector}
                )
            except Exception as exc:
                log.debug("info %s still failing: %s", key, exc)
                continue
            with self._lock:
                if self._infos.get(key) is body:
                    del self._infos[key]

    def stop(self, flush_timeout: float = 0.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
