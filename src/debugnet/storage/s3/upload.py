"""One vmcore streamed into a multipart upload as it arrives, in bounded memory.

Data that continues the contiguous prefix goes into the current part; a
part is cut when it holds ``part_size`` bytes (and a small tail stays behind,
so a compressed dump's final truncation still happens locally) and handed to
the store's upload threads. Data ahead of the prefix waits in the spool,
which may hold at most ``spool_max`` bytes: a client that far out of order
ends the dump with ``SpoolFull``, never with silently dropped data. At most
``max_inflight`` parts of one dump upload at once; parts cut while those are
in the air queue up within the same budget as the spool, so a store that is
briefly slower than the network costs memory, not acks. Only when the
budget (``spool_max`` + ``max_inflight`` parts) is spent does the receive
thread wait (back-pressure, bounded by the store timeout). A session thus
holds at most ``spool_max + (max_inflight + 1) * part_size`` whatever the
dump's size.

``finish`` fills the holes left at FINISHED with zeros (as a sparse file
reads), uploads the last part and completes the upload: only then may
FINISHED be acknowledged. ``abort`` aborts the upload (no orphaned parts).
"""

from __future__ import annotations

import errno
import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from debugnet.storage.interface import Chunk
from debugnet.storage.s3.retry import Retrier, StoreRefused, StoreUnreachable

log = logging.getLogger(__name__)

MIN_PART = 5 * 1024 * 1024
"""S3's smallest part but the last."""
TAIL = 256 * 1024
"""Bytes kept back from the newest part until the end (see the module docstring)."""
_ZEROS = bytes(1024 * 1024)


class SpoolFull(OSError):
    def __init__(self, spool_max: int) -> None:
        super().__init__(
            errno.ENOSPC,
            f"out-of-order data exceeds the spool (--spool-max {spool_max} bytes)",
        )


class StreamingUpload:
    """A multipart upload fed at offsets; created lazily with its first part."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        executor: Executor,
        retrier: Retrier,
        *,
        part_size: int = 8 * 1024 * 1024,
        spool_max: int = 256 * 1024 * 1024,
        max_inflight: int = 4,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self._executor, self._retrier = executor, retrier
        self.part_size = max(part_size, MIN_PART)
        self.spool_max, self.max_inflight = spool_max, max_inflight
        self._metadata = metadata or {}
        self.frontier = 0
        """Where the contiguous prefix ends (bytes of the object so far)."""
        self._buf = bytearray()
        self._spool: dict[int, bytes] = {}
        self._heap: list[int] = []
        self.spooled = 0
        self.spool_peak = 0
        self._parts: list[tuple[int, Future[str]]] = []
        self._queue: deque[tuple[int, bytes, Future[str]]] = deque()
        self._queued = 0
        """Bytes of parts handed out and not uploaded yet (queued or uploading)."""
        self._running = 0
        self._cond = threading.Condition()
        self._upload_id: str | None = None
        self._id_lock = threading.Lock()
        self.error: OSError | None = None
        self.completed = False

    @property
    def started(self) -> bool:
        """Whether a part was handed out (the object's name can no longer change)."""
        return bool(self._parts)

    @property
    def upload_id(self) -> str | None:
        return self._upload_id

    # -- receiving -----------------------------------------------------------

    def feed(self, offset: int, pieces: Sequence[Chunk], length: int) -> None:
        """Take ``length`` bytes at ``offset``; raises ``OSError`` (spool full, store failed)."""
        if self.error is not None:
            raise self.error
        end = offset + length
        if end <= self.frontier:
            return  # a retransmission of what is already in
        if offset > self.frontier:
            self._to_spool(offset, b"".join(pieces))
            return
        skip = self.frontier - offset
        for piece in pieces:
            view = memoryview(piece).cast("B")
            if skip >= len(view):
                skip -= len(view)
                continue
            self._buf += view[skip:]
            skip = 0
        self.frontier = end
        self._drain()
        self._cut(keep=TAIL)

    def _to_spool(self, offset: int, data: bytes) -> None:
        old = self._spool.get(offset)
        if old is not None and len(old) >= len(data):
            return
        grow = len(data) - (len(old) if old is not None else 0)
        if self.spooled + grow > self.spool_max:
            raise SpoolFull(self.spool_max)
        if old is None:
            heapq.heappush(self._heap, offset)
        self._spool[offset] = data
        self.spooled += grow
        self.spool_peak = max(self.spool_peak, self.spooled)

    def _drain(self) -> None:
        """Move spooled data that now touches the prefix into it."""
        heap = self._heap
        while heap and heap[0] <= self.frontier:
            offset = heapq.heappop(heap)
            data = self._spool.pop(offset)
            self.spooled -= len(data)
            end = offset + len(data)
            if end > self.frontier:
                self._buf += memoryview(data)[self.frontier - offset :]
                self.frontier = end

    def _cut(self, keep: int) -> None:
        while len(self._buf) >= self.part_size + keep:
            part = bytes(memoryview(self._buf)[: self.part_size])
            del self._buf[: self.part_size]
            self._submit(part)

    def _submit(self, data: bytes) -> None:
        """Queue a part; wait only while the session's memory budget is spent."""
        future: Future[str] = Future()
        with self._cond:
            self._parts.append((len(self._parts) + 1, future))
            self._queue.append((len(self._parts), data, future))
            self._queued += len(data)
        self._pump()
        with self._cond:
            budget = self.spool_max + self.max_inflight * self.part_size
            deadline = time.monotonic() + self._retrier.timeout * 2 + 5
            while self._queued + self.spooled > budget and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.error = StoreUnreachable(self._retrier.timeout, TimeoutError("parts"))
                    break
                self._cond.wait(left)
        if self.error is not None:
            raise self.error

    def _pump(self) -> None:
        """Start queued parts while fewer than ``max_inflight`` of this dump upload."""
        with self._cond:
            while self._queue and self._running < self.max_inflight:
                number, data, future = self._queue.popleft()
                self._running += 1
                self._executor.submit(self._run_part, number, data, future)

    def _run_part(self, number: int, data: bytes, future: Future[str]) -> None:
        try:
            future.set_result(self._upload_part(number, data))
        except OSError as exc:
            future.set_exception(exc)
            self.error = self.error or exc
        except Exception as exc:  # a bug must not leave the receive thread waiting
            future.set_exception(exc)
            self.error = self.error or OSError(errno.EIO, str(exc))
        with self._cond:
            self._running -= 1
            self._queued -= len(data)
            self._cond.notify_all()
        self._pump()

    def wait_parts(self) -> None:
        """Wait until every part handed out so far is uploaded; raises the first failure."""
        for _, future in self._parts:
            try:
                future.result(timeout=self._retrier.timeout * 2 + 5)
            except FutureTimeout:
                self.error = self.error or StoreUnreachable(
                    self._retrier.timeout, TimeoutError("part upload")
                )
        if self.error is not None:
            raise self.error

    # -- upload threads --------------------------------------------------------

    def _ensure_upload(self) -> str:
        with self._id_lock:
            if self._upload_id is None:
                reply = self._retrier.call(
                    f"create upload {self.key}",
                    lambda: self.client.create_multipart_upload(
                        Bucket=self.bucket, Key=self.key, Metadata=self._metadata
                    ),
                )
                self._upload_id = str(reply["UploadId"])
            return self._upload_id

    def _upload_part(self, number: int, data: bytes) -> str:
        upload_id = self._ensure_upload()
        reply = self._retrier.call(
            f"part {number} of {self.key}",
            lambda: self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=data
            ),
        )
        return str(reply["ETag"])

    # -- the end -------------------------------------------------------------

    def finish(self, truncate_to: int | None = None) -> None:
        """Fill holes, upload the rest, complete the upload. Raises ``OSError``."""
        if self.completed:
            return
        if self.error is not None:
            raise self.error
        while self._heap:  # holes at FINISHED read as zeros, as in a sparse file
            gap = self._heap[0] - self.frontier
            while gap > 0:
                n = min(gap, len(_ZEROS))
                self._buf += _ZEROS[:n]
                self.frontier += n
                gap -= n
                self._cut(keep=TAIL)
            self._drain()
            self._cut(keep=TAIL)
        if truncate_to is not None and truncate_to < self.frontier:
            kept = truncate_to - (self.frontier - len(self._buf))
            if kept >= 0:
                del self._buf[kept:]
                self.frontier = truncate_to
            else:
                log.warning("%s: cannot cut to %d: already uploaded", self.key, truncate_to)
        self._cut(keep=0)
        if self._buf or not self._parts:
            self._submit(bytes(self._buf))
            self._buf = bytearray()
        self.wait_parts()
        parts = [{"PartNumber": n, "ETag": f.result()} for n, f in self._parts]
        upload_id = self._ensure_upload()
        self._retrier.call(
            f"complete {self.key}",
            lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            ),
        )
        self.completed = True

    def abort(self) -> bool:
        """Abort the upload (after the parts in the air); False if the store failed."""
        with self._cond:
            for _, _, future in self._queue:
                future.cancel()
            self._queue.clear()
        for _, future in self._parts:
            if not future.cancelled():
                try:
                    future.result(timeout=self._retrier.timeout * 2 + 5)
                except (OSError, FutureTimeout):
                    pass
        self._buf = bytearray()
        self._spool.clear()
        self._heap.clear()
        self.spooled = 0
        if self._upload_id is None or self.completed:
            return True
        upload_id = self._upload_id
        try:
            self._retrier.call(
                f"abort {self.key}",
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=upload_id
                ),
            )
        except StoreRefused as exc:
            if exc.code != "NoSuchUpload":  # gone already is aborted
                log.warning("cannot abort the upload of %s: %s", self.key, exc)
                return False
        except OSError as exc:
            log.warning("cannot abort the upload of %s now: %s", self.key, exc)
            return False
        return True
