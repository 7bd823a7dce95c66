"""Start-up checks of the dump directory.

A server that says "listening" and then cannot create a file answers no
herald, and its clients time out with nothing on disk to explain why. So the
directory is checked the way the server will use it, before the socket opens:
it exists (or is created), is a directory, and a file can be created in it
and removed again. Each failure is one line naming the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from debugnet.errors import ErrnoError, InvalidArgument, error_for_errno

_PROBE = ".debugnet-write-test"


def _fail(path: Path, what: str, exc: OSError) -> ErrnoError:
    return error_for_errno(exc.errno or 0, f"dump directory {path}: {what}: {exc.strerror}")


def check_dump_dir(path: Path, *, create: bool) -> Path:
    """Return ``path`` once a file could be created in it and removed again."""
    if create and not path.exists() and not path.is_symlink():
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(path, "cannot create it", exc) from None
    if not path.exists():
        raise InvalidArgument(f"dump directory {path} does not exist")
    if not path.is_dir():
        raise InvalidArgument(f"dump directory {path} is not a directory")
    probe = path / f"{_PROBE}.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _fail(path, "cannot create files in it", exc) from None
    os.close(fd)
    try:
        probe.unlink()
    except OSError as exc:
        raise _fail(path, f"cannot remove the test file {probe.name}", exc) from None
    return path
