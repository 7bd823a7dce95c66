"""A locked pidfile: a second server on the same file is refused, not raced."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from debugnet.errors import Busy


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Busy(f"pidfile {self.path} is held by another instance (pid {other})") from None
        self._fd = fd
        self.rewrite()

    def rewrite(self) -> None:
        """Record this process's pid (again, after a daemonizing fork: the lock is inherited)."""
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
