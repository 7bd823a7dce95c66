"""Retention: old dumps deleted by count per host, total size and age, oldest first.

A dump is a candidate only once it has ended (its info file's last line is
one of the table of endings): a dump being received, or one a collector left
behind when it died, is never deleted. ``choose`` is the pure policy;
``apply`` finds the dumps of both layouts (netdumpd's ``info.<host>.<N>``,
savecore's ``<host>/info.<N>``) with the catalogue's ``find_dumps`` (no
symlinked directory entered, no symlinked file taken) and unlinks the chosen
dumps' files relative to their directory opened without following a link,
logging each deletion. ``RetentionRunner`` applies it when a dump ends and at
least hourly, on its own thread, so neither the listener nor a session waits.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from debugnet.catalogue.files import Found, dump_names, find_dumps
from debugnet.catalogue.record import Layout
from debugnet.storage.naming import last_name, tag

log = logging.getLogger(__name__)

_ENDED = (b"Dump complete", b"Dump incomplete", b"Dump unsuccessful", b"Bad KDH")
HOURLY = 3600.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_per_host: int | None = None
    max_total: int | None = None
    """Bytes all dumps together may take."""
    max_age_days: float | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.keep_per_host, self.max_total, self.max_age_days))


@dataclass(frozen=True, slots=True)
class StoredDump:
    directory: str
    """Relative to the dump directory."""
    host: str
    index: int
    ended: float | None
    """When it ended (its info file's time), None while it has not."""
    size: int
    names: tuple[str, ...]
    path: str = ""
    """The catalogue ID's path: the directory, or its parent in savecore's layout."""
    layout: str = Layout.NETDUMPD

    @property
    def info(self) -> str:
        """The info file's name in ``directory``."""
        return f"info.{tag(self.host, self.index, self.layout)}"


def choose(dumps: list[StoredDump], policy: RetentionPolicy, now: float) -> list[StoredDump]:
    """The dumps to delete, oldest first: past the age, past the count per host, past the total."""
    ended = sorted((d for d in dumps if d.ended is not None), key=lambda d: d.ended or 0.0)
    doomed: dict[tuple[str, str, int], StoredDump] = {}

    def doom(d: StoredDump) -> None:
        doomed[(d.directory, d.host, d.index)] = d

    if policy.max_age_days is not None:
        cutoff = now - policy.max_age_days * 86400
        for d in ended:
            if (d.ended or 0.0) < cutoff:
                doom(d)
    if policy.keep_per_host is not None:
        per_host: dict[str, list[StoredDump]] = {}
        for d in ended:
            per_host.setdefault(d.host, []).append(d)
        for group in per_host.values():
            for d in group[: max(len(group) - policy.keep_per_host, 0)]:
                doom(d)
    if policy.max_total is not None:
        total = sum(d.size for d in dumps) - sum(d.size for d in doomed.values())
        for d in ended:
            if total <= policy.max_total:
                break
            if (d.directory, d.host, d.index) not in doomed:
                doom(d)
                total -= d.size
    return sorted(doomed.values(), key=lambda d: d.ended or 0.0)


def _read_tail(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        return os.pread(fd, 512, max(size - 512, 0))
    finally:
        os.close(fd)


def _stored(root: Path, found: Found) -> StoredDump | None:
    """The dump an info file names, if that is a regular file; its files and their size."""
    try:
        st = os.stat(found.info, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return None
        last = _read_tail(found.info).rstrip(b"\n").rsplit(b"\n", 1)[-1]
    except OSError:
        return None
    host = found.host or ""  # savecore's flat directory: one machine's dumps
    files = tuple(n for n in dump_names(host, found.index, found.layout) if n in found.names)
    size = 0
    for n in files:
        try:
            size += os.stat(found.info.parent / n, follow_symlinks=False).st_size
        except OSError:
            pass
    ended = st.st_mtime if last.startswith(_ENDED) else None
    rel = os.path.relpath(found.info.parent, root)
    return StoredDump(rel, host, found.index, ended, size, files, found.path, found.layout)


def scan(root: Path) -> list[StoredDump]:
    """Every dump under ``root`` in either layout (``find_dumps``: subdirectories too,
    hidden ones and symlinked directories not entered)."""
    return [d for found in find_dumps(root) if (d := _stored(root, found)) is not None]


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _delete(root_fd: int, dump: StoredDump) -> None:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
    dir_fd = root_fd if dump.directory == "." else os.open(dump.directory, flags, dir_fd=root_fd)
    # The info file goes last: it is how a dump is found, so a deletion cut short
    # (an error, the server stopped) leaves it to be found and finished next time,
    # never a core with no info file that no scan would see again.
    info = dump.info
    try:
        for name in dump.names:
            if name != info:
                _unlink(name, dir_fd)
        for name in dump.names:  # the .last links that pointed at it
            link = last_name(name, dump.host, dump.index, dump.layout)
            try:
                if os.readlink(link, dir_fd=dir_fd) == name:
                    os.unlink(link, dir_fd=dir_fd)
            except OSError:
                pass
        _unlink(info, dir_fd)
    finally:
        if dir_fd != root_fd:
            os.close(dir_fd)


def apply(root: Path, policy: RetentionPolicy, now: float | None = None) -> list[StoredDump]:
    """Delete what the policy says; each deletion logged. The dumps deleted."""
    if not policy.active:
        return []
    when = time.time() if now is None else now
    doomed = choose(scan(root), policy, when)
    if not doomed:
        return []
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for d in doomed:
            try:
                _delete(root_fd, d)
            except OSError as exc:
                log.error("retention: cannot delete %s/%s: %s", d.directory, d.info, exc)
                continue
            age = (when - (d.ended or when)) / 86400
            log.info(
                "retention: deleted %s/%s and its files (%d bytes, ended %.1f days ago)",
                d.directory,
                d.info,
                d.size,
                age,
            )
    finally:
        os.close(root_fd)
    return doomed


class RetentionRunner:
    """Applies the policy on its own thread: when a dump ends, and at least hourly."""

    def __init__(
        self,
        root: Path,
        policy: RetentionPolicy,
        every: float = HOURLY,
        on_deleted: Callable[[list[StoredDump]], None] | None = None,
    ) -> None:
        self.root = root
        self.policy = policy
        self.every = every
        self.on_deleted = on_deleted
        """Told what was deleted (the catalogue records it), on the retention thread."""
        self.deleted = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.policy.active:
            self._thread = threading.Thread(target=self._main, name="retention", daemon=True)
            self._thread.start()

    def trigger(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                gone = apply(self.root, self.policy)
                self.deleted += len(gone)
                if gone and self.on_deleted is not None:
                    self.on_deleted(gone)
            except Exception:
                log.exception("retention failed")
            self._wake.wait(self.every)
            self._wake.clear()
