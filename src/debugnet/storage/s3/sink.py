"""One dump in the bucket: a ``DumpSink`` over a streaming upload and two small objects.

The vmcore streams into a multipart upload (upload.py). The info object is
rewritten whole, off the receive path, each time lines are added (it is a
few hundred bytes), and once more, synchronously, when the dump ends; the
key record is small and is written when the dump is made durable. A dump
that ends without ``sync`` succeeding has its upload aborted; what the store
could not take at that moment (it is down) is handed to the store's janitor,
which retries until the store is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from debugnet.storage.interface import Chunk, StorageCutShort, StorageError
from debugnet.storage.naming import tag, vmcore_name
from debugnet.storage.s3.retry import StoreUnreachable
from debugnet.storage.s3.upload import SpoolFull

if TYPE_CHECKING:
    from debugnet.storage.s3.store import S3Store

log = logging.getLogger(__name__)


class S3Sink:
    """The objects of one dump: ``info``, ``vmcore`` (a multipart upload), ``key``."""

    def __init__(self, store: S3Store, directory: str, host: str, index: int) -> None:
        self._store = store
        self._dir = directory
        self._host = host
        self._index = index
        self._info = bytearray()
        self._info_written = 0
        self._put_lock = threading.Lock()
        self._key = bytearray()
        self._closed = False
        self.upload = store.new_upload(store.location.key(self._core_name()))
        self._final_key = self.upload.key

    # -- names ---------------------------------------------------------------

    def _name(self, name: str) -> str:
        return f"{self._dir}/{name}" if self._dir else name

    def _core_name(self, *, encrypted: bool = False, compression: str = "none") -> str:
        layout = self._store.layout
        return self._name(
            vmcore_name(
                self._host, self._index, encrypted=encrypted, compression=compression, layout=layout
            )
        )

    @property
    def info_key(self) -> str:
        return self._store.location.key(self._name(f"info.{self._tag}"))

    @property
    def core_key(self) -> str:
        return self._final_key

    @property
    def _tag(self) -> str:
        return tag(self._host, self._index, self._store.layout)

    @property
    def bytes_received(self) -> int:
        """The vmcore's length so far (the catalogue's ``bytes``: there is no file to stat)."""
        return self.upload.frontier

    def allocated(self) -> int:
        """Bytes of the vmcore taken so far (no sparse files in a bucket: its length)."""
        return self.upload.frontier

    @property
    def index(self) -> int:
        return self._index

    @property
    def info_path(self) -> Path:
        """``/BUCKET/KEY``: where the handler and the catalogue find the info object."""
        return self._store.path_of(self.info_key)

    @property
    def core_path(self) -> Path:
        return self._store.path_of(self.core_key)

    # -- data ----------------------------------------------------------------

    def write_at(self, offset: int, pieces: Sequence[Chunk], length: int) -> None:
        try:
            self.upload.feed(offset, pieces, length)
        except (SpoolFull, StoreUnreachable) as exc:
            raise StorageCutShort(offset, exc) from exc  # ends incomplete, with the reason
        except OSError as exc:
            raise StorageError(offset, exc) from exc

    def write_key(self, offset: int, data: bytes) -> None:
        if offset > 1 << 20:
            raise StorageError.out_of_range(offset)
        end = offset + len(data)
        if len(self._key) < end:
            self._key.extend(bytes(end - len(self._key)))
        self._key[offset:end] = data

    def set_format(self, *, encrypted: bool, compression: str) -> None:
        new = self._store.location.key(
            self._core_name(encrypted=encrypted, compression=compression)
        )
        if not self.upload.started:
            self.upload.key = new
        self._final_key = new  # a KDH after the data: the object is renamed once complete

    def info(self, line: bytes) -> None:
        self._info += line
        self._store.background(self._put_info_quiet)

    # -- info object -----------------------------------------------------------

    def _put_info(self) -> None:
        """Write the info object as it is now unless that was written already."""
        with self._put_lock:
            version = len(self._info)
            if version == self._info_written:
                return
            self._store.put_object(self.info_key, bytes(self._info))
            self._info_written = version

    def _put_info_quiet(self) -> None:
        try:
            self._put_info()
        except OSError as exc:
            log.debug("info %s not written yet: %s", self.info_key, exc)

    def _put_info_or_later(self) -> None:
        try:
            self._put_info()
        except OSError as exc:
            log.warning("info %s: %s; written when the store is back", self.info_key, exc)
            self._store.janitor.put_later(self.info_key, bytes(self._info))

    # -- the end -------------------------------------------------------------

    def sync(self, truncate_to: int | None = None) -> None:
        try:
            self.upload.finish(truncate_to)
            if self._final_key != self.upload.key:
                self._store.rename(self.upload.key, self._final_key)
                self.upload.key = self._final_key
            if self._key:
                key = self._store.location.key(self._name(f"key.{self._tag}"))
                self._store.put_object(key, bytes(self._key))
            self._put_info()
        except StoreUnreachable as exc:
            raise StorageCutShort(self.upload.frontier, exc) from exc
        except OSError as exc:
            raise StorageError(self.upload.frontier, exc) from exc

    def publish(self) -> None:
        """Object stores have no links: ``.last`` is left to listing; the info goes out."""
        self._put_info_or_later()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.upload.completed and not self.upload.abort():
            assert self.upload.upload_id is not None
            self._store.janitor.abort_later(self.upload.key, self.upload.upload_id)
        self._put_info_or_later()
