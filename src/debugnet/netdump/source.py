"""Where the dump comes from: a file, a block device, or standard input."""

from __future__ import annotations

import io
import os
import stat
import sys
from dataclasses import dataclass
from typing import BinaryIO

from debugnet.errors import NoEntry, PermissionDenied, error_for_errno


@dataclass(slots=True)
class DumpSource:
    """A readable stream and its length, when it can be known in advance."""

    stream: BinaryIO
    size: int | None
    name: str
    owned: bool = True

    def close(self) -> None:
        if self.owned:
            self.stream.close()

    def __enter__(self) -> DumpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(path: str) -> DumpSource:
    """Open ``path`` (``-`` is standard input); size from stat or, for devices, by seeking."""
    if path == "-":
        return DumpSource(sys.stdin.buffer, None, "<stdin>", owned=False)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by DumpSource
    except FileNotFoundError:
        raise NoEntry(f"{path}: no such file") from None
    except PermissionError:
        raise PermissionDenied(f"{path}: permission denied") from None
    except OSError as exc:
        raise error_for_errno(exc.errno or 0, f"{path}: {exc.strerror}") from None
    return DumpSource(stream, stream_size(stream), path)


def stream_size(stream: BinaryIO) -> int | None:
    """Bytes in a regular file or block device; None for pipes, sockets and terminals."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, io.UnsupportedOperation, ValueError):
        return _seekable_size(stream)
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    if stat.S_ISBLK(st.st_mode):
        end = os.lseek(stream.fileno(), 0, os.SEEK_END)
        os.lseek(stream.fileno(), 0, os.SEEK_SET)
        return end
    return None


def _seekable_size(stream: BinaryIO) -> int | None:
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(here)
        return end - here
    except (OSError, ValueError):
        return None


def source_of(data: BinaryIO | bytes | bytearray | memoryview, name: str = "<data>") -> DumpSource:
    """Wrap what an API caller handed over; their streams stay theirs to close."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        return DumpSource(io.BytesIO(raw), len(raw), name)
    own_name = getattr(data, "name", None)  # an open file knows its path
    if isinstance(own_name, str):
        name = own_name
    return DumpSource(data, stream_size(data), name, owned=False)
