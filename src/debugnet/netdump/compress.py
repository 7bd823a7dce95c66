"""Compressors for a dump stream, as the kernel's gzip and zstd dump compression.

netdump takes any object with this shape; the zstd one imports the optional
``zstandard`` package only when it is created.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from debugnet.errors import NotSupported
from debugnet.wire.kdh import Compression


class Compressor(Protocol):
    kind: Compression

    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class GzipCompressor:
    """A gzip member (RFC 1952), what ``gunzip vmcore.N.gz`` expects."""

    kind = Compression.GZIP

    def __init__(self, level: int = 6) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data)

    def flush(self) -> bytes:
        return self._z.flush()


class ZstdCompressor:
    """One zstd frame, what ``zstd -d vmcore.N.zst`` expects."""

    kind = Compression.ZSTD

    def __init__(self, level: int = 3) -> None:
        try:
            import zstandard  # optional: loaded only when asked for
        except ImportError:
            raise NotSupported(
                "zstd compression needs the 'zstandard' package (pip install debugnet[zstd])"
            ) from None
        self._z = zstandard.ZstdCompressor(level=level).compressobj()

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._z.compress(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._z.flush()
        return out


def make_compressor(name: str | None) -> Compressor | None:
    """``None``/"none", "gzip" or "zstd"."""
    if name is None or name == "none":
        return None
    if name == "gzip":
        return GzipCompressor()
    if name == "zstd":
        return ZstdCompressor()
    raise NotSupported(f"unknown compression {name!r} (gzip or zstd)")
