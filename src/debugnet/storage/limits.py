"""The size limits of a dump and of the disk: parsing them, and checking a dump against them.

Sizes on the command line are bytes or carry a K/M/G/T suffix (powers of
1024); ``--min-free`` also takes a percentage of the file system. savecore's
``minfree`` file in the dump directory (kilobytes) is honoured too: the
floor is the larger of the two. ``DumpLimits`` is what the recorder checks
while a dump arrives; every check is arithmetic on numbers it is handed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from debugnet.errors import InvalidArgument

_SIZE = re.compile(r"(\d+)\s*([KMGT]?)i?B?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

MAX_RANGES = 100_000
"""Disjoint received ranges a dump may have before it is too fragmented."""
ALLOCATION_SLACK = 1 << 20
"""Disk a dump may allocate beyond twice what it received (sparse files, block rounding)."""


def parse_size(text: str) -> int:
    """``4096``, ``64K``, ``2G``: bytes. Raises InvalidArgument on anything else."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise InvalidArgument(f"{text!r} is not a size (bytes, or a number with K, M, G or T)")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


@dataclass(frozen=True, slots=True)
class Floor:
    """Free space to keep: bytes, a percentage of the file system, or both (the larger)."""

    size: int = 0
    percent: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Floor:
        text = text.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                raise InvalidArgument(f"{text!r} is not a percentage") from None
            if not 0 <= pct < 100:
                raise InvalidArgument(f"--min-free {text}: a percentage from 0 to 99")
            return cls(percent=pct)
        return cls(size=parse_size(text))

    def bytes_of(self, total: int, minfree_file_kb: int | None = None) -> int:
        """The floor in bytes on a file system of ``total`` bytes, with savecore's file."""
        from_file = (minfree_file_kb or 0) * 1024
        return max(self.size, int(total * self.percent / 100), from_file)


def parse_minfree_file(text: str) -> int | None:
    """savecore's ``minfree``: a number of kilobytes on the first line; None if unreadable."""
    try:
        value = int(text.split()[0]) if text.split() else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


@dataclass(frozen=True, slots=True)
class DumpLimits:
    """What one dump may take; ``None`` and 0 mean no limit."""

    max_dump_size: int | None = None
    max_ranges: int = MAX_RANGES
    slack: int = ALLOCATION_SLACK

    def past_end(self, end: int, dumplength: int | None, blocksize: int) -> str | None:
        """Why data ending at ``end`` may not be stored, or None."""
        if self.max_dump_size is not None and end > self.max_dump_size:
            return f"larger than the size limit ({self.max_dump_size} bytes)"
        if dumplength is not None and end > dumplength + max(blocksize, 512):
            return f"data past the dump length ({dumplength} bytes) at offset {end}"
        return None

    def fragmented(self, ranges: int, received: int, allocated: int) -> bool:
        """Too many disjoint ranges, or far more disk allocated than data received."""
        return ranges > self.max_ranges or allocated > 2 * received + self.slack
