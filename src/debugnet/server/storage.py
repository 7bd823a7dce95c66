"""The dump directory: the first ``DumpStore`` backend (see server/store.py).

``DirectoryStore`` allocates ``<host>.<index>`` names in netdumpd's layout;
``DumpFiles`` is one dump's info, vmcore and key files. Contiguous data is
gathered in one buffer and written with one ``pwrite`` when the buffer fills
or the next piece is not contiguous, so a 1448-byte packet is never one
syscall; a large run from a receive batch goes out with one ``pwritev`` from
the receive slots. Every write, whatever its source, ends in ``_write_all``.
Every OS error surfaces as ``StorageError`` with the file offset that failed,
which is what the info file reports.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from debugnet.server.naming import (
    NETDUMPD,
    SAVECORE,
    bounds_name,
    index_names,
    last_name,
    output_dir,
    tag,
    vmcore_name,
)
from debugnet.server.store import Chunk, DumpLimitReached, DumpRequest, StorageError

__all__ = [
    "DirectoryStore",
    "DumpFiles",
    "DumpLimitReached",
    "DumpPaths",
    "StorageError",
    "allocate_index",
]

log = logging.getLogger(__name__)

_ALLOC_LOCK = threading.Lock()
_HAVE_PWRITEV = hasattr(os, "pwritev")


def _read_bounds(directory: Path, name: str) -> int | None:
    try:
        return int((directory / name).read_text().strip())
    except (OSError, ValueError):
        return None


def _write_bounds(directory: Path, name: str, value: int) -> None:
    tmp = directory / f".{name}.tmp"
    try:
        tmp.write_text(f"{value}\n")
        tmp.chmod(0o600)  # every file in the dump directory is 0600, as the README says
        os.replace(tmp, directory / name)
    except OSError as exc:
        log.warning("cannot update %s in %s: %s", name, directory, exc)


def _index_free(directory: Path, host: str, index: int, layout: str) -> bool:
    return not any(os.path.lexists(directory / n) for n in index_names(host, index, layout))


def allocate_index(directory: Path, host: str, limit: int, layout: str = NETDUMPD) -> int:
    """The hinted index if it is free and in range, else the lowest free one."""
    bounds = bounds_name(host, layout)
    hint = _read_bounds(directory, bounds)
    candidates = [hint] if hint is not None and 0 <= hint < limit else []
    candidates += range(limit)
    for index in candidates:
        if _index_free(directory, host, index, layout):
            _write_bounds(directory, bounds, index + 1)
            return index
    raise DumpLimitReached(f"all {limit} dump indexes for {host} in {directory} are taken")


@dataclass(frozen=True, slots=True)
class DumpPaths:
    directory: Path
    host: str
    index: int
    layout: str = NETDUMPD

    @property
    def info(self) -> Path:
        return self.directory / f"info.{tag(self.host, self.index, self.layout)}"

    @property
    def key(self) -> Path:
        return self.directory / f"key.{tag(self.host, self.index, self.layout)}"

    def vmcore(self, *, encrypted: bool = False, compression: str = "none") -> Path:
        name = vmcore_name(
            self.host, self.index, encrypted=encrypted, compression=compression, layout=self.layout
        )
        return self.directory / name

    def last(self, path: Path) -> Path:
        """The ``.last`` link that points at ``path`` once the dump is complete."""
        return self.directory / last_name(path.name, self.host, self.index, self.layout)


def _write_all(fd: int, pieces: Sequence[Chunk], offset: int) -> None:
    """Write every byte of ``pieces`` at ``offset``: the one write loop of the dump directory.

    One piece goes out with ``pwrite``, several with ``pwritev`` (no copy);
    a short write continues where it stopped. Raises ``StorageError`` with
    the file offset that failed.
    """
    views = [memoryview(p).cast("B") for p in pieces]
    pos = offset
    while views:
        try:
            if len(views) == 1 or not _HAVE_PWRITEV:
                n = os.pwrite(fd, views[0], pos)
            else:
                n = os.pwritev(fd, views, pos)
        except OSError as exc:
            raise StorageError(pos, exc) from exc
        except (OverflowError, ValueError):
            raise StorageError.out_of_range(pos) from None
        pos += n
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


class DumpFiles:
    """The open info and vmcore files of one dump: a ``DumpSink``."""

    def __init__(self, paths: DumpPaths, buffer_size: int) -> None:
        self.paths = paths
        self.vmcore_path = paths.vmcore()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._info_fd = os.open(paths.info, flags, 0o600)
        try:
            self._core_fd = os.open(
                self.vmcore_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
            )
        except OSError:
            os.close(self._info_fd)
            raise
        self._buffer_size = buffer_size
        self._buf = bytearray()  # allocated at the first small write: idle sessions stay small
        self._view = memoryview(self._buf)
        self._start = 0
        self._fill = 0
        self.high_water = 0
        self._key_fd: int | None = None
        self.closed = False

    @classmethod
    def create(
        cls, directory: Path, host: str, limit: int, buffer_size: int, layout: str = NETDUMPD
    ) -> DumpFiles:
        with _ALLOC_LOCK:
            index = allocate_index(directory, host, limit, layout)
            return cls(DumpPaths(directory, host, index, layout), buffer_size)

    @property
    def index(self) -> int:
        return self.paths.index

    @property
    def info_path(self) -> Path:
        return self.paths.info

    @property
    def core_path(self) -> Path:
        return self.vmcore_path

    # -- data ----------------------------------------------------------------

    def write(self, offset: int, data: Chunk) -> None:
        """One piece at ``offset``: gathered with its contiguous neighbours when small."""
        n = len(data)
        fill = self._fill
        if offset != self._start + fill or fill + n > len(self._buf):
            self.flush()
            fill = 0
            self._start = offset
            if n > self._buffer_size // 2:
                self._pwrite((data,), offset, n)
                self._start = offset + n
                return
            if not self._buf:
                self._buf = bytearray(self._buffer_size)
                self._view = memoryview(self._buf)
        self._buf[fill : fill + n] = data
        self._fill = fill + n

    def write_at(self, offset: int, pieces: Sequence[Chunk], length: int) -> None:
        """A contiguous run of datagram payloads: gathered if small, else one pwritev, no copy."""
        if length <= self._buffer_size // 4 or not _HAVE_PWRITEV:
            for piece in pieces:
                self.write(offset, piece)
                offset += len(piece)
            return
        self.flush()
        self._pwrite(pieces, offset, length)
        self._start, self._fill = offset + length, 0

    def flush(self) -> None:
        if self._fill:
            fill, self._fill = self._fill, 0
            self._pwrite((self._view[:fill],), self._start, fill)
            self._start += fill

    def _pwrite(self, pieces: Sequence[Chunk], offset: int, length: int) -> None:
        _write_all(self._core_fd, pieces, offset)
        self.high_water = max(self.high_water, offset + length)

    def sync(self, truncate_to: int | None = None) -> None:
        """Flush, optionally cut the file to ``truncate_to``, and fsync: the dump is durable."""
        self.flush()
        try:
            if truncate_to is not None:
                os.ftruncate(self._core_fd, truncate_to)
            os.fsync(self._core_fd)
            if self._key_fd is not None:
                os.fsync(self._key_fd)
        except OSError as exc:
            raise StorageError(
                self.high_water if truncate_to is None else truncate_to, exc
            ) from exc

    # -- metadata ------------------------------------------------------------

    def info(self, line: bytes) -> None:
        """Append to the info file at once, so a partial dump still says what it was."""
        try:
            os.write(self._info_fd, line)
        except OSError as exc:
            log.error("cannot write %s: %s", self.paths.info, exc)

    def write_key(self, offset: int, data: bytes) -> None:
        """Store a piece of the key record at its offset; the file is created read-only (0400)."""
        if self._key_fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            try:
                self._key_fd = os.open(self.paths.key, flags, 0o400)
            except OSError as exc:
                raise StorageError(offset, exc) from exc
        _write_all(self._key_fd, (data,), offset)

    def set_format(self, *, encrypted: bool, compression: str) -> None:
        """Give the vmcore the name the KDH implies; the open descriptor stays valid."""
        target = self.paths.vmcore(encrypted=encrypted, compression=compression)
        if target != self.vmcore_path:
            os.rename(self.vmcore_path, target)
            self.vmcore_path = target

    def publish(self) -> None:
        """Link ``<host>.last`` to this dump and make the new names durable."""
        self.link_last()
        self.sync_dir()

    def sync_dir(self) -> None:
        """Make the new names (renames, symlinks, bounds) durable too."""
        try:
            fd = os.open(self.paths.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot open %s to sync it: %s", self.paths.directory, exc)
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            log.warning("cannot sync %s: %s", self.paths.directory, exc)
        finally:
            os.close(fd)

    def link_last(self) -> None:
        """Point the ``.last`` links at this dump: netdumpd's two, or all of savecore's.

        savecore(8) removes every ``.last`` link before it saves, so a link to an
        older dump's key or compressed core never outlives the dump it belonged to.
        """
        paths = self.paths
        targets = [self.vmcore_path, paths.info]
        if paths.layout == SAVECORE:
            if self._key_fd is not None:
                targets.append(paths.key)
            for stale in paths.directory.glob("*.last*"):
                if stale.is_symlink() and stale.name.startswith(("vmcore", "info.", "key.")):
                    stale.unlink(missing_ok=True)
        for target in targets:
            link = paths.last(target)
            tmp = paths.directory / f".{link.name}.{paths.index}.tmp"  # unique per dump: no race
            try:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(target.name, tmp)
                os.replace(tmp, link)
            except OSError as exc:
                log.warning("cannot link %s -> %s: %s", link, target.name, exc)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            os.fsync(self._info_fd)
        except OSError as exc:
            log.warning("cannot sync %s: %s", self.paths.info, exc)
        os.close(self._core_fd)
        os.close(self._info_fd)
        if self._key_fd is not None:
            os.close(self._key_fd)


@dataclass(frozen=True, slots=True)
class DirectoryStore:
    """Dumps as files in netdumpd's layout under ``root``: a ``DumpStore``.

    A herald's path picks a subdirectory (naming.output_dir); when that one
    cannot take the dump, the default path is tried before giving up.
    """

    root: Path
    default_path: str = "."
    max_dumps: int = 1024
    write_buffer: int = 256 * 1024
    layout: str = NETDUMPD
    """netdumpd's names, or savecore's in a directory per host (naming.LAYOUTS)."""
    # (client, herald path) pairs already warned about falling back to the default path
    _warned: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)
    _warned_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def default_dir(self) -> Path:
        return self.root / self.default_path

    def directory(self, request: DumpRequest) -> Path:
        with self._warned_lock:  # sessions create their dumps concurrently
            return output_dir(
                self.root, self.default_path, request.herald_path, request.client_ip, self._warned
            )

    def _host_dir(self, directory: Path, host: str) -> Path:
        """savecore's names carry no host: each host gets its own directory (ours to create)."""
        if self.layout != SAVECORE:
            return directory
        path = directory / host
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def create(self, request: DumpRequest) -> DumpFiles:
        """Create the dump in the herald's directory, else in the default one; log failures."""
        directory = self.directory(request)
        while True:
            try:
                where = self._host_dir(directory, request.host)
                return DumpFiles.create(
                    where, request.host, self.max_dumps, self.write_buffer, self.layout
                )
            except DumpLimitReached as exc:
                log.error("%s: %s; herald not acknowledged", request.client_ip, exc)
                failure: Exception = exc
            except OSError as exc:
                log.error(
                    "%s: cannot create dump files in %s: %s", request.client_ip, directory, exc
                )
                failure = exc
            if directory == self.default_dir:
                raise failure
            log.warning(
                "%s: cannot create dump files in %s; retrying in the default path",
                request.client_ip,
                directory,
            )
            directory = self.default_dir

    def free_bytes(self, request: DumpRequest | None = None) -> int:
        where = self.directory(request) if request is not None else self.root
        st = os.statvfs(where)
        return st.f_bavail * st.f_frsize
