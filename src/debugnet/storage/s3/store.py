"""Dumps into an S3-compatible bucket: the object-store ``DumpStore``.

Names are netdumpd's (``[path/]vmcore.<host>.<N>``, ``info.<host>.<N>``,
``key.<host>.<N>``) or savecore's, under the URL's prefix. A herald path is
used when its folder exists, that is when the zero-byte object
``PREFIX/PATH/`` exists (``debugnet dumps --store URL mkdir PATH`` makes one),
as on disk only existing directories are used.

Index allocation needs no catalogue and no lock: the info object is created
with ``If-None-Match: *``, which exactly one of several collectors can do for
one name; the loser takes the next N. Every object this collector writes
carries its id (``x-amz-meta-collector``), which is how the start-up ``sweep``
finds the uploads a killed instance of *this* collector left (a peer's live
dumps are never touched): it aborts them and marks their info objects.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from debugnet.catalogue.s3location import S3Location, error_code, make_client
from debugnet.storage.interface import DumpLimitReached, DumpRequest
from debugnet.storage.naming import NETDUMPD, SAVECORE, tag
from debugnet.storage.s3.janitor import Janitor
from debugnet.storage.s3.retry import Retrier, StoreRefused
from debugnet.storage.s3.sink import S3Sink
from debugnet.storage.s3.upload import StreamingUpload
from debugnet.triage.info import INTERRUPTED_LINE, end_outcome

log = logging.getLogger(__name__)

_CORE = re.compile(r"^vmcore(?:_encrypted)?\.(?P<tag>.+?)(?:\.gz|\.zst)?$")
_META = "collector"


class S3Store:
    """Where a collector's dumps go when ``--store s3://BUCKET[/PREFIX]``."""

    def __init__(
        self,
        location: S3Location,
        *,
        collector: str = "",
        default_path: str = ".",
        layout: str = NETDUMPD,
        max_dumps: int = 1024,
        part_size: int = 8 * 1024 * 1024,
        spool_max: int = 256 * 1024 * 1024,
        max_inflight: int = 4,
        timeout: float = 30.0,
        workers: int = 16,
        client: Any = None,
    ) -> None:
        self.location = location
        self.collector = collector or socket.gethostname()
        self.default_path = "" if default_path in (".", "") else default_path.strip("/")
        self.layout = layout
        self.max_dumps = max_dumps
        self.part_size, self.spool_max, self.max_inflight = part_size, spool_max, max_inflight
        self.retrier = Retrier(timeout)
        self.client = client if client is not None else make_client(timeout, pool=workers * 2)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3")
        self.janitor = Janitor(self, interval=min(timeout / 4, 5.0))

    @property
    def root(self) -> Path:
        """``/BUCKET/PREFIX``: catalogue file names are relative to it, as to a dump dir."""
        return Path("/", self.location.bucket, *filter(None, [self.location.prefix]))

    def path_of(self, key: str) -> Path:
        return Path("/", self.location.bucket, key)

    # -- plumbing the sinks use ------------------------------------------------

    def new_upload(self, key: str) -> StreamingUpload:
        return StreamingUpload(
            self.client,
            self.location.bucket,
            key,
            self._executor,
            self.retrier,
            part_size=self.part_size,
            spool_max=self.spool_max,
            max_inflight=self.max_inflight,
            metadata={_META: self.collector},
        )

    def background(self, fn: Callable[[], None]) -> None:
        self._executor.submit(fn)

    def put_object(self, key: str, body: bytes, *, exclusive: bool = False) -> None:
        """Write one small object (retried); ``exclusive``: only if no object has that name."""
        extra = {"IfNoneMatch": "*"} if exclusive else {}
        self.retrier.call(
            f"put {key}",
            lambda: self.client.put_object(
                Bucket=self.location.bucket,
                Key=key,
                Body=body,
                Metadata={_META: self.collector},
                **extra,
            ),
        )

    def rename(self, old: str, new: str) -> None:
        """Copy (server-side, in parts when large) and delete: S3 has no rename."""
        bucket = self.location.bucket
        self.retrier.call(
            f"copy {old}",
            lambda: self.client.copy({"Bucket": bucket, "Key": old}, bucket, new),
        )
        self.retrier.call(
            f"delete {old}", lambda: self.client.delete_object(Bucket=bucket, Key=old)
        )

    def get_object(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        try:
            reply = self.client.get_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return reply["Body"].read(), dict(reply.get("Metadata", {}))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    # -- DumpStore -----------------------------------------------------------

    def directory(self, request: DumpRequest) -> str:
        """The herald's path if its folder object exists, else the default path."""
        path = (request.herald_path or "").strip("/")
        if path in ("", "."):
            return self.default_path
        parts = path.split("/")
        if ".." in parts or "\0" in path or path.startswith("/"):
            log.warning("%s: herald path %r refused", request.client_ip, path)
            return self.default_path
        try:
            if self.exists(self.location.key(path) + "/"):
                return path
        except Exception as exc:
            log.warning("%s: cannot look up folder %r: %s", request.client_ip, path, exc)
            return self.default_path
        log.warning(
            "%s: herald path %r is not a folder in %s; using the default path",
            request.client_ip,
            path,
            self.location,
        )
        return self.default_path

    def create(self, request: DumpRequest) -> S3Sink:
        directory = self.directory(request)
        if self.layout == SAVECORE:
            directory = f"{directory}/{request.host}" if directory else request.host
        first = self._next_free(directory, request.host)
        order = [*range(first, self.max_dumps), *range(min(first, self.max_dumps))]
        for index in order:
            name = f"info.{tag(request.host, index, self.layout)}"
            key = self.location.key(f"{directory}/{name}" if directory else name)
            try:
                self.put_object(key, b"", exclusive=True)
            except StoreRefused as exc:
                if exc.code == "PreconditionFailed":
                    continue  # a peer (or an older dump) has this index
                log.error("%s: cannot create %s: %s", request.client_ip, key, exc)
                raise
            except OSError as exc:
                log.error("%s: cannot create %s: %s", request.client_ip, key, exc)
                raise
            return S3Sink(self, directory, request.host, index)
        raise DumpLimitReached(f"all {self.max_dumps} dump indexes for {request.host} are taken")

    def _next_free(self, directory: str, host: str) -> int:
        """One past the highest index in use for ``host`` (by listing its info and vmcores)."""
        stem = "" if self.layout == SAVECORE else f"{host}."
        base = self.location.key(directory)
        highest = -1
        for kind in ("info.", "vmcore.", "vmcore_encrypted."):
            prefix = f"{base}/{kind}{stem}" if base else f"{kind}{stem}"
            for key in self._keys(prefix, delimiter="/"):
                digits = re.match(r"\d+", key[len(prefix) :])
                if digits:
                    highest = max(highest, int(digits.group()))
        return highest + 1 if highest + 1 < self.max_dumps else 0

    def _keys(self, prefix: str, delimiter: str = "") -> list[str]:
        def listing() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix, Delimiter=delimiter
            )
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

        return self.retrier.call(f"list {prefix}", listing)

    def check(self, request: DumpRequest) -> None:
        """Nothing to check before the ack: a bucket has no floor, and ``create``'s
        conditional create is what decides the index (a store that is down fails
        there, when the dump's first KDH, key or data arrives)."""

    def free_bytes(self, request: DumpRequest | None = None) -> int:
        """A bucket has no free-space figure; the spool bound is what limits a session."""
        return sys.maxsize

    def room(self, request: DumpRequest | None = None) -> int:
        """No disk floor in a bucket (its quotas, if any, answer a PUT with an error)."""
        return sys.maxsize

    # -- start-up, folders, shutdown -----------------------------------------

    def sweep(self) -> list[str]:
        """Abort this collector's unfinished uploads; mark their info objects. Returns them.

        A store that cannot be swept now (it is down) does not stop the
        collector from serving: the leftovers wait for the next start-up or the
        bucket's lifecycle rule.
        """
        try:
            return self._sweep()
        except Exception as exc:
            log.error("cannot sweep %s for leftover uploads: %s", self.location, exc)
            return []

    def _sweep(self) -> list[str]:
        swept = []
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.location.bucket, Prefix=self.location.key("")
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                key, upload_id = upload["Key"], upload["UploadId"]
                info_key = self.info_key_of(key)
                if info_key is None:
                    continue
                found = self.get_object(info_key)
                if found is None or found[1].get(_META) != self.collector:
                    continue  # a peer's dump, perhaps live: not ours to end
                self.client.abort_multipart_upload(
                    Bucket=self.location.bucket, Key=key, UploadId=upload_id
                )
                self.mark_interrupted(info_key, found[0])
                log.warning("aborted the unfinished upload of %s (collector restarted)", key)
                swept.append(self.location.relative(info_key))
        return swept

    def mark_interrupted(self, info_key: str, body: bytes | None = None) -> None:
        """Append the interrupted line to an info object unless it already states an end."""
        if body is None:
            found = self.get_object(info_key)
            body = found[0] if found is not None else b""
        lines = body.decode("utf-8", "replace").splitlines()
        if any(end_outcome(line) is not None for line in lines):
            return
        self.put_object(info_key, body + INTERRUPTED_LINE)

    def mark_interrupted_file(self, path: Path) -> None:
        """``mark_interrupted`` for a catalogue file name under ``root`` (start-up recovery)."""
        self.mark_interrupted(self.location.key(str(path.relative_to(self.root))))

    @staticmethod
    def info_key_of(core_key: str) -> str | None:
        directory, _, name = core_key.rpartition("/")
        m = _CORE.match(name)
        if m is None:
            return None
        info = f"info.{m.group('tag')}"
        return f"{directory}/{info}" if directory else info

    def mkdir(self, path: str) -> str:
        """Create the folder object ``PREFIX/PATH/`` that lets heralds name ``PATH``."""
        path = path.strip("/")
        if not path or ".." in path.split("/"):
            raise ValueError(f"{path!r} is not a relative folder name")
        key = self.location.key(path) + "/"
        self.retrier.call(
            f"mkdir {key}",
            lambda: self.client.put_object(Bucket=self.location.bucket, Key=key, Body=b""),
        )
        return key

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.janitor.stop()
