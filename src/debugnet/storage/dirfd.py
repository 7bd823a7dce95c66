"""A directory held by descriptor: the dump directory as a boundary no symlink crosses.

A path checked once and used later can be redirected in between: swap a
subdirectory for a symlink after the check and the next ``open(path)``
follows it out of the dump directory. So the server names nothing by path
below its dump directory. ``DirHandle`` holds a directory open; every file
operation is relative to that descriptor (``openat``, ``renameat``,
``symlinkat``, ``unlinkat``, ``fstatat`` through ``os.*``'s ``dir_fd=``)
with ``O_NOFOLLOW``, and subdirectories are opened one component at a time
with ``O_DIRECTORY | O_NOFOLLOW``. A dump keeps writing into the directory it
was created in, whatever is renamed or swapped around it afterwards.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC
_MAX_LINKS = 8
"""Symbolic links followed while walking one herald path (each must stay inside)."""


def _inside_link(target: str) -> bool:
    """A link the herald-path rule lets us follow: relative, no '..' component."""
    return bool(target) and not target.startswith("/") and ".." not in PurePosixPath(target).parts


class DirHandle:
    """One open directory; ``path`` is only for messages and for the handler's arguments."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def open(cls, path: Path) -> DirHandle:
        """The operator's directory (a symlink to it is the operator's choice)."""
        return cls(os.open(path, _DIR_FLAGS), path)

    def __enter__(self) -> DirHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def dup(self) -> DirHandle:
        return DirHandle(os.dup(self.fd), self.path)

    # -- walking -------------------------------------------------------------

    def walk(self, rel: str) -> DirHandle | None:
        """The existing directory ``rel`` names below this one, opened component by component.

        A symbolic link on the way is followed only when it is relative with no
        '..' component (netdumpd's rule), and then it is walked component by
        component too, so no link, even one swapped in meanwhile, leads out.
        None when ``rel`` is absolute, has '..', or does not name a directory.
        """
        if not rel or "\0" in rel or rel.startswith("/"):
            return None
        parts = list(PurePosixPath(rel).parts)
        if ".." in parts:
            return None
        current = self.dup()
        links = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            try:
                fd = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=current.fd)
            except OSError as exc:
                target = self._link_target(current, part, exc)
                links += 1
                if target is None or links > _MAX_LINKS:
                    current.close()
                    return None
                parts[:0] = [p for p in PurePosixPath(target).parts if p != "."]
                continue
            current.close()
            current = DirHandle(fd, current.path / part)
        return current

    @staticmethod
    def _link_target(current: DirHandle, part: str, exc: OSError) -> str | None:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            return None
        try:
            target = os.readlink(part, dir_fd=current.fd)
        except OSError:
            return None
        return target if _inside_link(target) else None

    # -- names inside --------------------------------------------------------

    def open_file(self, name: str, flags: int, mode: int = 0o600) -> int:
        """``openat`` a file here; a symlink in its place is refused (ELOOP), never followed."""
        return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=self.fd)

    def lexists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def is_symlink(self, name: str) -> bool:
        return stat.S_ISLNK(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)

    def mkdir(self, name: str, mode: int = 0o700) -> None:
        """``mkdirat``; an existing entry is left alone (``walk`` refuses a non-directory)."""
        try:
            os.mkdir(name, mode, dir_fd=self.fd)
        except FileExistsError:
            pass

    def read_text(self, name: str) -> str:
        fd = self.open_file(name, os.O_RDONLY)
        with os.fdopen(fd, "r") as f:
            return f.read()

    def write_text(self, name: str, text: str) -> None:
        """Write ``name`` whole: a temporary beside it, then a rename over it."""
        tmp = f".{name}.tmp"
        self.unlink(tmp, missing_ok=True)
        fd = self.open_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.replace(tmp, name)

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def symlink(self, target: str, name: str) -> None:
        os.symlink(target, name, dir_fd=self.fd)

    def unlink(self, name: str, *, missing_ok: bool = False) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def fsync(self) -> None:
        os.fsync(self.fd)

    def statvfs(self) -> os.statvfs_result:
        return os.statvfs(self.fd)
