"""The kernel message buffer of an amd64 minidump, read straight from the file.

Layout (DUMPTOOLS.md): page 0 holds ``struct minidumphdr`` (little-endian),
then from offset 4096 the ring of ``msgbufsize`` bytes rounded up to a page,
with ``struct msgbuf`` right after the ring when the kernel's area was
page-aligned. The text is the ring read from the write position on, as
dmesg(8) prints it. Only the first pages are needed, so a compressed dump is
decompressed no further than ``head_size()``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from debugnet.errors import FormatError

PAGE_SIZE = 4096
MINIDUMP_MAGIC = b"minidump FreeBSD/amd64"
MSGBUF_MAGIC = 0x063062
VERSIONS = (1, 2, 3)

_HEADER = struct.Struct("<24sIIIIQQQI")
_MSGBUF = struct.Struct("<QIIII")
"""msg_ptr, msg_magic, msg_size, msg_wseq, msg_rseq: the start of struct msgbuf."""
_PRIORITY = re.compile(rb"^<\d+>", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class MinidumpHeader:
    version: int
    msgbufsize: int
    bitmapsize: int
    pmapsize: int
    kernbase: int
    dmapbase: int
    dmapend: int
    dumpavailsize: int

    @property
    def head_size(self) -> int:
        """Bytes from the file's start that hold the header page and the whole ring."""
        return PAGE_SIZE + round_page(self.msgbufsize)


@dataclass(frozen=True, slots=True)
class MessageBuffer:
    text: str
    """The buffer as dmesg prints it: oldest first, NULs and ``<N>`` prefixes removed."""
    ordered: bool
    """True when ``struct msgbuf`` was found and gave the write position."""


def round_page(n: int) -> int:
    return -(-n // PAGE_SIZE) * PAGE_SIZE


def is_minidump(head: bytes) -> bool:
    return head[: len(MINIDUMP_MAGIC)] == MINIDUMP_MAGIC and len(head) >= _HEADER.size


def parse_header(head: bytes) -> MinidumpHeader:
    if len(head) < _HEADER.size:
        raise FormatError(f"minidump header: {len(head)} bytes, need {_HEADER.size}")
    magic, version, msgbuf, bitmap, pmap, kernbase, dmapbase, dmapend, avail = _HEADER.unpack_from(
        head
    )
    if magic.rstrip(b"\0") != MINIDUMP_MAGIC:
        raise FormatError(f"not an amd64 minidump (magic {magic.rstrip(bytes(1))!r})")
    if version not in VERSIONS:
        raise FormatError(f"amd64 minidump version {version} not known (1-3)")
    if version < 3:
        avail = 0
    return MinidumpHeader(version, msgbuf, bitmap, pmap, kernbase, dmapbase, dmapend, avail)


def dmesg_text(raw: bytes) -> str:
    """NULs dropped and syslog priority prefixes stripped at line starts, as dmesg does."""
    return _PRIORITY.sub(b"", raw.replace(b"\0", b"")).decode("utf-8", "replace")


def _write_position(region: bytes, size: int) -> int | None:
    """msg_wseq mod msg_size from the struct after the ring, if it is there and sane."""
    if len(region) < size + _MSGBUF.size:
        return None
    _ptr, magic, msg_size, wseq, _rseq = _MSGBUF.unpack_from(region, size)
    if magic != MSGBUF_MAGIC or msg_size != size or size == 0:
        return None
    return int(wseq) % size


def _guess_write_position(ring: bytes) -> int:
    """Without the struct: the end of the text that holds the last ``panic:``."""
    last = ring.rfind(b"panic:")
    if last < 0:
        return 0
    nul = ring.find(b"\0", last)
    return len(ring) if nul < 0 else nul


def message_buffer(head: bytes) -> MessageBuffer:
    """The message buffer from the first ``head_size`` bytes of a minidump, or what there is."""
    header = parse_header(head)
    size = header.msgbufsize
    region = head[PAGE_SIZE : header.head_size]
    ring = region[:size]
    wpos = _write_position(region, size)
    ordered = wpos is not None
    if wpos is None:
        wpos = _guess_write_position(ring)
    return MessageBuffer(dmesg_text(ring[wpos:] + ring[:wpos]), ordered)
