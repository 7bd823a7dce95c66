"""gzip and zstd dump streams: the first bytes for triage, or the whole for ``extract``.

The kernel compresses the dump as one gzip member or one zstd frame; savecore
and our server keep it as ``vmcore.N.gz`` / ``.zst``. Triage needs only the
first pages, so ``read_head`` stops decompressing as soon as it has them and
tolerates a stream cut short (a dump still arriving or timed out).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from debugnet.errors import FormatError, NotSupported

CHUNK = 1 << 16


def _gzip() -> Callable[[bytes], bytes]:
    z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(data: bytes) -> bytes:
        try:
            return z.decompress(data)
        except zlib.error as exc:
            raise FormatError(f"gzip stream: {exc}") from None

    return feed


def _zstd() -> Callable[[bytes], bytes]:
    try:
        import zstandard  # optional: only for zstd dumps
    except ImportError:
        raise NotSupported(
            "zstd dumps need the 'zstandard' package (pip install debugnet[zstd])"
        ) from None
    z = zstandard.ZstdDecompressor().decompressobj()

    def feed(data: bytes) -> bytes:
        try:
            out: bytes = z.decompress(data)
        except zstandard.ZstdError as exc:
            raise FormatError(f"zstd stream: {exc}") from None
        return out

    return feed


def decompressor(compression: str) -> Callable[[bytes], bytes] | None:
    """A feed function for "gzip" or "zstd"; None for "none" (nothing to undo)."""
    if compression in ("none", ""):
        return None
    if compression == "gzip":
        return _gzip()
    if compression == "zstd":
        return _zstd()
    raise NotSupported(f"unknown compression {compression!r}")


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def read_head(stream: BinaryIO, compression: str, size: int) -> bytes:
    """Up to ``size`` bytes of the plain dump, decompressing no more input than needed."""
    feed = decompressor(compression)
    if feed is None:
        return stream.read(size)
    out = bytearray()
    for chunk in _chunks(stream):
        out += feed(chunk)
        if len(out) >= size:
            break
    return bytes(out[:size])


def decompress_stream(src: BinaryIO, dst: BinaryIO, compression: str) -> int:
    """Write the whole plain dump to ``dst``; returns its length."""
    feed = decompressor(compression)
    total = 0
    for chunk in _chunks(src):
        out = chunk if feed is None else feed(chunk)
        dst.write(out)
        total += len(out)
    return total
