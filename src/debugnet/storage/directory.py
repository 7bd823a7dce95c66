"""The dump directory: the first ``DumpStore`` backend (see storage/interface.py).

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

from debugnet.storage.dirfd import DirHandle
from debugnet.storage.interface import (
    BelowFloor,
    Chunk,
    DumpLimitReached,
    DumpRequest,
    StorageError,
)
from debugnet.storage.limits import Floor, parse_minfree_file
from debugnet.storage.naming import (
    NETDUMPD,
    SAVECORE,
    bounds_name,
    index_names,
    last_name,
    open_default_dir,
    open_output_dir,
    tag,
    vmcore_name,
)
from debugnet.storage.writebehind import CHUNK, WriteBehind

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


def _read_bounds(directory: DirHandle, name: str) -> int | None:
    try:
        return int(directory.read_text(name).strip())
    except (OSError, ValueError):
        return None


def _write_bounds(directory: DirHandle, name: str, value: int) -> None:
    try:
        directory.write_text(name, f"{value}\n")
    except OSError as exc:
        log.warning("cannot update %s in %s: %s", name, directory.path, exc)


def _index_free(directory: DirHandle, host: str, index: int, layout: str) -> bool:
    return not any(directory.lexists(n) for n in index_names(host, index, layout))


def free_index(directory: DirHandle, host: str, limit: int, layout: str = NETDUMPD) -> int:
    """The hinted index if it is free and in range, else the lowest free one; takes nothing."""
    hint = _read_bounds(directory, bounds_name(host, layout))
    candidates = [hint] if hint is not None and 0 <= hint < limit else []
    candidates += range(limit)
    for index in candidates:
        if _index_free(directory, host, index, layout):
            return index
    raise DumpLimitReached(f"all {limit} dump indexes for {host} in {directory.path} are taken")


def allocate_index(directory: DirHandle, host: str, limit: int, layout: str = NETDUMPD) -> int:
    """``free_index``, and the hint for the next one written to the bounds file."""
    index = free_index(directory, host, limit, layout)
    _write_bounds(directory, bounds_name(host, layout), index + 1)
    return index


@dataclass(frozen=True, slots=True)
class DumpPaths:
    """One dump's names; ``directory`` is for messages and the handler, never opened by path."""

    directory: Path
    host: str
    index: int
    layout: str = NETDUMPD

    @property
    def info_name(self) -> str:
        return f"info.{tag(self.host, self.index, self.layout)}"

    @property
    def key_name(self) -> str:
        return f"key.{tag(self.host, self.index, self.layout)}"

    @property
    def info(self) -> Path:
        return self.directory / self.info_name

    @property
    def key(self) -> Path:
        return self.directory / self.key_name

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

    def __init__(
        self,
        paths: DumpPaths,
        buffer_size: int,
        directory: DirHandle | None = None,
        write_behind: WriteBehind | None = None,
    ) -> None:
        """Create the files in ``directory`` (taken over; default: ``paths.directory`` opened).

        With ``write_behind``, every ``CHUNK`` bytes written are handed to it
        to become durable while the dump goes on.
        """
        self._write_behind = write_behind
        self._dirty = 0
        self._dirty_lo = 1 << 80
        self._dirty_hi = 0
        self.paths = paths
        self.dir = directory if directory is not None else DirHandle.open(paths.directory)
        self.vmcore_path = paths.vmcore()
        try:
            self._info_fd = self.dir.open_file(
                paths.info_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
            )
        except OSError:
            self.dir.close()
            raise
        try:
            self._core_fd = self.dir.open_file(
                self.vmcore_path.name, os.O_RDWR | os.O_CREAT | os.O_TRUNC
            )
        except OSError:
            os.close(self._info_fd)
            self.dir.close()
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
        cls,
        directory: DirHandle,
        host: str,
        limit: int,
        buffer_size: int,
        write_behind: WriteBehind | None = None,
        layout: str = NETDUMPD,
    ) -> DumpFiles:
        """The next free index for ``host`` in ``directory`` (a handle the dump takes over)."""
        with _ALLOC_LOCK:
            index = allocate_index(directory, host, limit, layout)
            paths = DumpPaths(directory.path, host, index, layout)
            return cls(paths, buffer_size, directory, write_behind)

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
        end = offset + length
        if end > self.high_water:
            self.high_water = end
        if self._write_behind is not None:
            self._dirty += length
            self._dirty_lo = min(self._dirty_lo, offset)
            self._dirty_hi = max(self._dirty_hi, end)
            if self._dirty >= CHUNK:
                self._write_behind.submit(
                    self._core_fd, self._dirty_lo, self._dirty_hi - self._dirty_lo
                )
                self._dirty, self._dirty_lo, self._dirty_hi = 0, 1 << 80, 0

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
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            try:
                self._key_fd = self.dir.open_file(self.paths.key_name, flags, 0o400)
            except OSError as exc:
                raise StorageError(offset, exc) from exc
        _write_all(self._key_fd, (data,), offset)

    def set_format(self, *, encrypted: bool, compression: str) -> None:
        """Give the vmcore the name the KDH implies; the open descriptor stays valid."""
        target = self.paths.vmcore(encrypted=encrypted, compression=compression)
        if target != self.vmcore_path:
            self.dir.replace(self.vmcore_path.name, target.name)
            self.vmcore_path = target

    def publish(self) -> None:
        """Link ``<host>.last`` to this dump and make the new names durable."""
        self.link_last()
        self.sync_dir()

    def sync_dir(self) -> None:
        """Make the new names (renames, symlinks, bounds) durable too."""
        try:
            self.dir.fsync()
        except OSError as exc:
            log.warning("cannot sync %s: %s", self.paths.directory, exc)

    def link_last(self) -> None:
        """Point the ``.last`` links at this dump: netdumpd's two, or all of savecore's.

        savecore(8) removes every ``.last`` link before it saves, so a link to an
        older dump's key or compressed core never outlives the dump it belonged to.
        """
        paths = self.paths
        targets = [self.vmcore_path.name, paths.info_name]
        if paths.layout == SAVECORE:
            if self._key_fd is not None:
                targets.append(paths.key_name)
            self._unlink_stale_last()
        for target in targets:
            link = paths.last(paths.directory / target).name
            tmp = f".{link}.{paths.index}.tmp"  # unique per dump: no race
            try:
                self.dir.unlink(tmp, missing_ok=True)
                self.dir.symlink(target, tmp)
                self.dir.replace(tmp, link)
            except OSError as exc:
                log.warning("cannot link %s -> %s: %s", paths.directory / link, target, exc)

    def _unlink_stale_last(self) -> None:
        try:
            names = os.listdir(self.dir.fd)
        except OSError:
            return
        for name in names:
            if ".last" in name and name.startswith(("vmcore", "info.", "key.")):
                try:
                    if self.dir.is_symlink(name):
                        self.dir.unlink(name, missing_ok=True)
                except OSError:
                    pass

    def allocated(self) -> int:
        """Blocks the vmcore takes on disk, in bytes (sparse holes take none)."""
        self.flush()
        try:
            return os.fstat(self._core_fd).st_blocks * 512
        except OSError:
            return 0

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
        self.dir.close()


@dataclass(frozen=True, slots=True)
class DirectoryStore:
    """Dumps as files in netdumpd's layout under ``root``: a ``DumpStore``.

    A herald's path picks a subdirectory (naming.open_output_dir); when that one
    cannot take the dump, the default path is tried before giving up.
    """

    root: Path
    default_path: str = "."
    max_dumps: int = 1024
    write_buffer: int = 256 * 1024
    layout: str = NETDUMPD
    """netdumpd's names, or savecore's in a directory per host (naming.LAYOUTS)."""
    min_free: Floor = field(default_factory=Floor)
    """Free space kept (``--min-free``); savecore's ``minfree`` file counts too."""
    write_behind: WriteBehind | None = field(default_factory=WriteBehind, repr=False, compare=False)
    """Makes data durable while it arrives, so the fsync before FINISHED's ack is short."""
    # (client, herald path) pairs already warned about falling back to the default path
    _warned: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)
    _warned_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def create(self, request: DumpRequest) -> DumpFiles:
        """Create the dump in the herald's directory, else in the default one; log failures."""
        ip = request.client_ip
        with DirHandle.open(self.root) as root:
            directory = self._output_dir(root, request)
            default = not request.herald_path or directory.path == root.path / self.default_path
            while True:
                try:
                    where = self._host_dir(directory, request.host)
                    return DumpFiles.create(
                        where,
                        request.host,
                        self.max_dumps,
                        self.write_buffer,
                        self.write_behind,
                        self.layout,
                    )
                except DumpLimitReached as exc:
                    directory.close()
                    log.error("%s: %s; herald not acknowledged", ip, exc)
                    failure: Exception = exc
                except OSError as exc:
                    directory.close()
                    log.error("%s: cannot create dump files in %s: %s", ip, directory.path, exc)
                    failure = exc
                if default:
                    raise failure
                log.warning(
                    "%s: cannot create dump files in %s; retrying in the default path",
                    ip,
                    directory.path,
                )
                directory, default = open_default_dir(root, self.default_path), True

    def _host_dir(self, directory: DirHandle, host: str) -> DirHandle:
        """savecore's names carry no host: each host gets its own directory (ours to create).

        Takes ``directory`` over (the host's directory replaces it).
        """
        if self.layout != SAVECORE:
            return directory
        try:
            directory.mkdir(host, 0o700)
            found = directory.walk(host)
            if found is None:
                raise NotADirectoryError(f"{directory.path / host} is not a directory")
            return found
        finally:
            directory.close()

    def _free_index(self, directory: DirHandle, host: str) -> None:
        """Raises DumpLimitReached if no index is free for ``host`` below ``directory``."""
        if self.layout == SAVECORE:
            found = directory.walk(host)
            if found is None:
                return  # no directory yet: index 0 is free
            with found:
                free_index(found, host, self.max_dumps, self.layout)
            return
        free_index(directory, host, self.max_dumps, self.layout)

    def _output_dir(self, root: DirHandle, request: DumpRequest) -> DirHandle:
        with self._warned_lock:  # sessions create their dumps concurrently
            return open_output_dir(
                root, self.default_path, request.herald_path, request.client_ip, self._warned
            )

    def check(self, request: DumpRequest) -> None:
        room = self.room(request)
        if room <= 0:
            raise BelowFloor(
                f"{self.free_bytes(request)} bytes free in {self.root}, "
                f"below the floor of {self.floor()}"
            )
        with DirHandle.open(self.root) as root:
            with self._output_dir(root, request) as directory:
                try:
                    self._free_index(directory, request.host)
                    return
                except DumpLimitReached:
                    if not request.herald_path:
                        raise
            with open_default_dir(root, self.default_path) as directory:
                self._free_index(directory, request.host)

    def free_bytes(self, request: DumpRequest | None = None) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def floor(self) -> int:
        """The disk floor in bytes: ``min_free``, or savecore's ``minfree`` file if larger."""
        st = os.statvfs(self.root)
        try:
            with DirHandle.open(self.root) as root:
                from_file = parse_minfree_file(root.read_text("minfree"))
        except (OSError, UnicodeDecodeError):
            from_file = None
        return self.min_free.bytes_of(st.f_blocks * st.f_frsize, from_file)

    def room(self, request: DumpRequest | None = None) -> int:
        return self.free_bytes(request) - self.floor()
