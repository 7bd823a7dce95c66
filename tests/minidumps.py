"""amd64 minidump images built byte by byte from the format (DUMPTOOLS.md), for triage tests."""

from __future__ import annotations

import struct

PAGE = 4096
MSGBUF_MAGIC = 0x063062


def ring_with(text: bytes, size: int, wseq: int) -> bytes:
    """A ring of ``size`` bytes holding ``text`` as the kernel's msgbuf_addchar writes it.

    Byte i of the text (whose last byte has sequence ``wseq - 1``) lands at
    position ``(wseq - len(text) + i) mod size``.
    """
    ring = bytearray(size)
    start = wseq - len(text)
    for i, byte in enumerate(text):
        ring[(start + i) % size] = byte
    return bytes(ring)


def minidump(
    ring: bytes,
    *,
    wseq: int | None,
    version: int = 2,
    pages_after: int = 3,
    magic: int = MSGBUF_MAGIC,
) -> bytes:
    """Header page, the ring rounded to pages (struct msgbuf after it unless wseq is None), more."""
    size = len(ring)
    header = struct.pack(
        "<24sIIIIQQQI",
        b"minidump FreeBSD/amd64",
        version,
        size,
        4096,
        8192,
        0xFFFFFFFF80000000,
        0xFFFFF80000000000,
        0xFFFFFC0000000000,
        0,
    )
    page0 = header.ljust(PAGE, b"\0")
    region = bytearray(
        -(-(size + 72) // PAGE) * PAGE if wseq is not None else -(-size // PAGE) * PAGE
    )
    region[:size] = ring
    if wseq is not None:
        struct.pack_into("<QIIII", region, size, 0xFFFFFE0000000000, magic, size, wseq, 0)
    filler = bytes(range(256)) * (PAGE * pages_after // 256)
    return page0 + bytes(region) + filler
