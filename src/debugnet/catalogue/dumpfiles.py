"""Where a catalogue's file names point: a dump directory, or the bucket collectors wrote to.

A record's ``files`` are names relative to a root (``rack1/vmcore.db3.4.gz``).
The readers (``debugnet dumps``, the dashboard, the server's signature step)
need the same few things of them wherever they are: which exist, their
sizes, their bytes as a stream, and deletion. ``LocalFiles`` answers from a
directory; ``BucketFiles`` from an S3-compatible bucket (the ``s3`` extra), so
``debugnet dumps --store s3://… msgbuf ID`` reads the message buffer with two
ranged reads, not by downloading a vmcore.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from debugnet.catalogue.files import (
    Found,
    build_record,
    compression_of,
    dump_names,
    found_in,
    host_of,
    message_buffer_from,
    received_core,
    scan,
    signature_from,
)
from debugnet.catalogue.record import DumpRecord
from debugnet.catalogue.s3location import S3Location, error_code, make_client
from debugnet.errors import DebugnetError, NoEntry
from debugnet.triage.decompress import read_head
from debugnet.triage.info import parse_info
from debugnet.triage.signature import Signature

log = logging.getLogger(__name__)

_INFO_MAX = 1 << 20  # an info file is a few hundred bytes; netdumpd's bound


class StoreReadError(DebugnetError):
    """A file of a dump could not be read from (or deleted in) where it is stored."""


class DumpFiles(ABC):
    """A dump's files by their catalogue names, wherever they are stored."""

    @abstractmethod
    def present(self, record: DumpRecord) -> list[str]:
        """The dump's files that exist now, info first (names relative to the root)."""

    @abstractmethod
    def size(self, name: str) -> int | None:
        """The file's size, or None when it does not exist."""

    @abstractmethod
    def open(self, name: str) -> BinaryIO:
        """The file's bytes from the start, as a stream (NoEntry when it does not exist)."""

    @abstractmethod
    def delete(self, record: DumpRecord) -> list[str]:
        """Delete the dump's files; returns their names."""

    @abstractmethod
    def describe(self, name: str) -> str:
        """Where the file is, for messages: a path or an ``s3://`` URL."""

    @abstractmethod
    def output_beside(self, name: str, new_name: str) -> Path:
        """Where ``decrypt``/``extract`` put their result by default."""

    def local_path(self, name: str) -> Path | None:
        """The file's path when it is on this machine's disk (downloads use sendfile)."""
        return None

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as stream:
            return stream.read(limit)

    @abstractmethod
    def scan(self) -> Iterator[DumpRecord]:
        """A record for every dump found in storage (``reindex``), unreadable ones skipped."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


class LocalFiles(DumpFiles):
    """The files under a dump directory, as the server (either layout) writes them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        """``name`` under the dump directory; a shared catalogue's names are not trusted further.

        A record's names come from whoever writes the catalogue: one naming an
        absolute path or a ``..`` component would make a download, extract or
        rm reach outside the directory, so it names no file here.
        """
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or "\0" in name:
            raise NoEntry(f"{name!r}: not a name inside the dump directory")
        return self.root / rel

    def _dir(self, record: DumpRecord) -> Path:
        return self._path(record.directory) if record.directory else self.root

    def present(self, record: DumpRecord) -> list[str]:
        # Every name the dump may have, not only the record's list: decrypt and
        # extract add files beside the received ones.
        directory = self._dir(record)
        prefix = f"{record.directory}/" if record.directory else ""
        names = dump_names(record.host, record.index, record.layout)
        return [prefix + n for n in names if (directory / n).exists()]

    def size(self, name: str) -> int | None:
        try:
            st = self._path(name).stat()
        except (OSError, NoEntry):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def open(self, name: str) -> BinaryIO:
        path = self._path(name)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NoEntry(f"{self.root / name}: no such file") from None
        except OSError as exc:
            raise StoreReadError(f"{self.root / name}: {exc.strerror}") from None

    def delete(self, record: DumpRecord) -> list[str]:
        """The files, and the ``.last`` links that pointed at them."""
        names = self.present(record)
        basenames = {Path(n).name for n in names}
        for link in self._dir(record).glob("*.last*"):
            if link.is_symlink() and os.readlink(link) in basenames:
                link.unlink()
        for name in names:
            self._path(name).unlink(missing_ok=True)
        return names

    def describe(self, name: str) -> str:
        return str(self.root / name)

    def output_beside(self, name: str, new_name: str) -> Path:
        return self._path(name).with_name(new_name)

    def local_path(self, name: str) -> Path | None:
        return self._path(name)

    def scan(self) -> Iterator[DumpRecord]:
        return scan(self.root)

    def close(self) -> None:
        """Nothing held open between calls."""


_MISSING = ("NoSuchKey", "404", "NotFound")


class BucketFiles(DumpFiles):
    """The objects a collector with ``--store s3://BUCKET[/PREFIX]`` wrote.

    Names are keys relative to the prefix. Reads stream (GetObject's body),
    so a download or an extract never holds a dump in memory. Decrypted or
    extracted results go to the local disk (the current directory unless
    ``-o``): a bucket is the collectors' to write.
    """

    def __init__(self, location: S3Location, client: Any = None) -> None:
        self.location = location
        self._client = client

    @property
    def client(self) -> Any:
        """Made on first use: ``dumps --store … list`` never pays for importing boto3."""
        if self._client is None:
            self._client = make_client()
        return self._client

    def _key(self, name: str) -> str:
        return self.location.key(name)

    def _fail(self, what: str, name: str, exc: Exception) -> DebugnetError:
        if error_code(exc) in _MISSING:
            return NoEntry(f"{self.describe(name)}: no such object")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StoreReadError(f"cannot {what} {self.describe(name)}: {first}")

    def present(self, record: DumpRecord) -> list[str]:
        names = sorted(record.files, key=lambda n: not Path(n).name.startswith("info."))
        return [n for n in names if self.size(n) is not None]

    def size(self, name: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=self._key(name))
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None
            raise self._fail("stat", name, exc) from None
        return int(head["ContentLength"])

    def open(self, name: str) -> BinaryIO:
        try:
            reply = self.client.get_object(Bucket=self.location.bucket, Key=self._key(name))
        except Exception as exc:
            raise self._fail("read", name, exc) from None
        return cast(BinaryIO, reply["Body"])

    def read(self, name: str, limit: int) -> bytes:
        """The first ``limit`` bytes with one ranged GET (no more is transferred)."""
        if limit <= 0:
            return b""
        try:
            reply = self.client.get_object(
                Bucket=self.location.bucket, Key=self._key(name), Range=f"bytes=0-{limit - 1}"
            )
            return bytes(reply["Body"].read())
        except Exception as exc:
            if error_code(exc) == "InvalidRange":  # an empty object
                return b""
            raise self._fail("read", name, exc) from None

    def delete(self, record: DumpRecord) -> list[str]:
        names = self.present(record)
        for name in names:
            try:
                self.client.delete_object(Bucket=self.location.bucket, Key=self._key(name))
            except Exception as exc:
                raise self._fail("delete", name, exc) from None
        return names

    def describe(self, name: str) -> str:
        return f"s3://{self.location.bucket}/{self._key(name)}"

    def output_beside(self, name: str, new_name: str) -> Path:
        return Path.cwd() / new_name

    def _listing(self) -> dict[str, dict[str, tuple[int, float]]]:
        """Every object under the prefix as ``{folder: {name: (size, mtime)}}``."""
        top = self.location.key("")
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=f"{top}/" if top else ""
        )
        folders: dict[str, dict[str, tuple[int, float]]] = {}
        try:
            for page in pages:
                for o in page.get("Contents", []):
                    rel = self.location.relative(o["Key"])
                    folder, _, name = rel.rpartition("/")
                    if name and not any(p.startswith(".") for p in folder.split("/") if p):
                        entry = (int(o["Size"]), o["LastModified"].timestamp())
                        folders.setdefault(folder, {})[name] = entry
        except Exception as exc:
            raise self._fail("list", "", exc) from None
        return folders

    def scan(self) -> Iterator[DumpRecord]:
        """Records from the info objects, as ``reindex`` builds them from a directory."""
        for folder, objects in sorted(self._listing().items()):
            for found in found_in(Path(folder), folder, objects):
                try:
                    yield self._record(found, objects)
                except DebugnetError as exc:
                    log.warning("%s: skipped: %s", self.describe(str(found.info)), exc)

    def _record(self, found: Found, objects: dict[str, tuple[int, float]]) -> DumpRecord:
        info = parse_info(self.read(str(found.info), _INFO_MAX))
        folder = found.info.parent.as_posix()
        prefix = "" if folder == "." else f"{folder}/"
        names = dump_names(host_of(found, info), found.index, found.layout)
        present = [n for n in names if n in objects]
        core = received_core(present)
        mtime = max(objects[n][1] for n in present)
        compression = compression_of(Path(core), info) if core is not None else None
        sig = signature_in(
            self, None if core is None else prefix + core, info.panic, compression or "none"
        )
        stored = objects[core][0] if core is not None else 0
        files = [prefix + n for n in present]
        return build_record(found, info, files, stored, mtime, sig, compression)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()


def plain_head(files: DumpFiles, name: str, compression: str, size: int) -> bytes:
    """The first ``size`` bytes of the plain dump in file ``name``."""
    if compression in ("", "none"):
        return files.read(name, size)
    with contextlib.closing(files.open(name)) as stream:
        return read_head(stream, compression, size)


def message_buffer_in(files: DumpFiles, name: str, compression: str) -> str | None:
    """The kernel message buffer of the amd64 minidump in ``name``, or None."""
    return message_buffer_from(
        lambda size: plain_head(files, name, compression, size), files.describe(name)
    )


def signature_in(
    files: DumpFiles, core: str | None, panic: str | None, compression: str
) -> Signature:
    """The recipe's signature of a stored dump; an encrypted core is not read."""
    return signature_from(core, panic, lambda name: message_buffer_in(files, name, compression))


def open_dump_files(dumpdir: Path, store: str | None) -> DumpFiles:
    """``--store s3://…`` when given, else the dump directory."""
    if store is None:
        return LocalFiles(dumpdir)
    return BucketFiles(S3Location.parse(store))
