"""The target's memory: a raw file mapped at an address, or an ELF core's PT_LOAD segments.

The file is read through a read-only mmap; writes land in copied pages held
in memory, so the image file is never changed.
"""

from __future__ import annotations

import bisect
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from debugnet.errors import InvalidArgument

_PAGE = 4096
_ELF_MAGIC = b"\x7fELF"
_PT_LOAD = 1


@dataclass(frozen=True, slots=True)
class Segment:
    """``memsz`` bytes at ``vaddr``: ``filesz`` from the file at ``offset``, then zeros."""

    vaddr: int
    offset: int
    filesz: int
    memsz: int

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz


def parse_image_spec(spec: str) -> tuple[Path, int | None]:
    """``FILE`` or ``FILE@ADDR`` (ADDR in any Python integer notation)."""
    path, sep, addr = spec.rpartition("@")
    if not sep:
        return Path(spec), None
    try:
        return Path(path), int(addr, 0)
    except ValueError:
        raise InvalidArgument(f"--image {spec!r}: {addr!r} is not an address") from None


def elf_segments(head: bytes) -> list[Segment]:
    """The PT_LOAD segments of a 64-bit ELF file (a core, or any executable)."""
    if len(head) < 64 or head[4] != 2 or head[5] not in (1, 2):
        raise InvalidArgument("only 64-bit ELF files are supported")
    order = "<" if head[5] == 1 else ">"
    phoff, phentsize, phnum = (
        struct.unpack_from(order + "Q", head, 32)[0],
        *struct.unpack_from(order + "HH", head, 54),
    )
    segments = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + 56 > len(head):
            raise InvalidArgument("ELF program headers run past the end of the file")
        ptype, _flags, offset, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
            order + "IIQQQQQQ", head, at
        )
        if ptype == _PT_LOAD and memsz:
            segments.append(Segment(vaddr, offset, min(filesz, memsz), memsz))
    if not segments:
        raise InvalidArgument("the ELF file has no PT_LOAD segment")
    return sorted(segments, key=lambda s: s.vaddr)


class MemoryImage:
    """Reads and writes of target memory; unmapped bytes end a read short."""

    def __init__(self, data: bytes | mmap.mmap, segments: list[Segment]) -> None:
        self._data = data
        self.segments = segments
        self._starts = [s.vaddr for s in segments]
        self._dirty: dict[int, bytearray] = {}

    @classmethod
    def open(cls, spec: str) -> MemoryImage:
        path, addr = parse_image_spec(spec)
        try:
            with path.open("rb") as f:
                size = f.seek(0, 2)
                data: bytes | mmap.mmap = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
                )
        except OSError as exc:
            raise InvalidArgument(f"--image {path}: {exc.strerror}") from None
        if addr is None and data[:4] == _ELF_MAGIC:
            segments = elf_segments(bytes(data[: 1 << 20]))
        else:
            segments = [Segment(addr or 0, 0, len(data), len(data))]
        return cls(data, segments)

    def _segment(self, addr: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.segments[i].end:
            return self.segments[i]
        return None

    def _page_copy(self, page: int) -> bytearray:
        """The page at ``page`` as read from the image, to be written into."""
        out = bytearray(_PAGE)
        for a in range(page, page + _PAGE):
            seg = self._segment(a)
            if seg is not None:
                out[a - page] = self._byte(seg, a)
        return out

    def read(self, addr: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``addr``; fewer where the mapped memory ends."""
        out = bytearray()
        while length > 0:
            seg = self._segment(addr)
            if seg is None:
                break
            n = min(length, seg.end - addr)
            page = addr & ~(_PAGE - 1)
            if not self._dirty or not any(p in self._dirty for p in range(page, addr + n, _PAGE)):
                rel = addr - seg.vaddr
                got = self._data[seg.offset + rel : seg.offset + min(rel + n, seg.filesz)]
                out += got
                out += bytes(n - len(got))
            else:
                for a in range(addr, addr + n):  # rare: reads over written pages
                    p = a & ~(_PAGE - 1)
                    out.append(self._dirty[p][a - p] if p in self._dirty else self._byte(seg, a))
            addr += n
            length -= n
        return bytes(out)

    def _byte(self, seg: Segment, addr: int) -> int:
        rel = addr - seg.vaddr
        return self._data[seg.offset + rel] if rel < seg.filesz else 0

    def write(self, addr: int, data: bytes) -> bool:
        """Write into the in-memory copy; False (nothing written) if any byte is unmapped."""
        if any(self._segment(a) is None for a in (addr, addr + max(len(data) - 1, 0))):
            return False
        if len(self.read(addr, len(data))) != len(data):
            return False
        for i, b in enumerate(data):
            a = addr + i
            page = a & ~(_PAGE - 1)
            buf = self._dirty.get(page)
            if buf is None:
                buf = self._dirty[page] = self._page_copy(page)
            buf[a - page] = b
        return True
