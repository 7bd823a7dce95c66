"""The RFC 1071 internet checksum, without a Python loop over words.

Because 2**16 is 1 modulo 0xffff, a big-endian byte string read as one integer
is congruent to the sum of its 16-bit words modulo 0xffff, and end-around-carry
addition *is* addition modulo 0xffff except that a non-zero sum is written
0xffff rather than 0. So ``int.from_bytes`` does the word walk in C, and one
reduction finishes it. Reducing a long integer modulo a small one costs a
hardware division per 30-bit digit, so long inputs are cut into a few
even-aligned chunks whose (much shorter) sum is reduced instead.

Sums here are "one's complement sums": 0 only for all-zero data, else 1..0xffff.
"""

from __future__ import annotations

from typing import TypeAlias

BytesLike: TypeAlias = bytes | bytearray | memoryview

_MOD = 0xFFFF
_SPLIT_ABOVE = 512
"""Below this many bytes one reduction is cheaper than slicing into chunks."""
_FOUR_WAY_UPTO = 4096
_CHUNK_MIN = 1024
_CHUNK_MAX = 16384


def _contiguous(data: BytesLike) -> bytes | memoryview:
    if isinstance(data, bytes):
        return data
    view = memoryview(data)
    if view.c_contiguous and view.ndim == 1 and view.itemsize == 1:
        return view
    if view.c_contiguous:
        return view.cast("B")
    return view.tobytes()


def _raw_sum(data: bytes | memoryview, start: int, end: int) -> int:
    """An integer congruent to the word sum of ``data[start:end]`` modulo 0xffff.

    It is zero only for zero data. Chunks are aligned to ``end`` and have even
    sizes, so every chunk is followed by an even number of bytes and so weighs
    1 modulo 0xffff. Slicing the caller's buffer chunk by chunk copies each byte
    once, on its way into ``int.from_bytes``.
    """
    size = end - start
    if size <= _SPLIT_ABOVE:
        total = int.from_bytes(data[start:end], "big")
    elif size <= _FOUR_WAY_UPTO:
        q = (size >> 2) & ~1
        c = end - q
        b = c - q
        a = b - q
        total = (
            int.from_bytes(data[start:a], "big")
            + int.from_bytes(data[a:b], "big")
            + int.from_bytes(data[b:c], "big")
            + int.from_bytes(data[c:end], "big")
        )
    else:
        chunk = min(_CHUNK_MAX, max(_CHUNK_MIN, (size >> 4) & ~1))
        head = start + size % chunk
        total = sum([int.from_bytes(data[i : i + chunk], "big") for i in range(head, end, chunk)])
        if head > start:
            total += int.from_bytes(data[start:head], "big")
    if size & 1:
        total <<= 8  # the odd tail byte is padded with a zero byte on the right
    return total


def _whole(data: BytesLike) -> int:
    buf = _contiguous(data)
    return _raw_sum(buf, 0, len(buf))


def _fold(total: int) -> int:
    return 0 if total == 0 else (total - 1) % _MOD + 1


def ones_sum(data: BytesLike, *, odd_offset: bool = False) -> int:
    """The one's complement sum of ``data`` as 16-bit big-endian words.

    Set ``odd_offset`` when ``data`` starts at an odd offset of the whole being
    summed: its words then straddle the whole's words, which swaps its sum's bytes.
    """
    folded = _fold(_whole(data))
    return swap16(folded) if odd_offset else folded


def swap16(value: int) -> int:
    return ((value << 8) | (value >> 8)) & 0xFFFF


def combine(*sums: int) -> int:
    """Add one's complement sums (of even-length pieces, or swapped ones)."""
    return _fold(sum(sums))


def finish(total: int) -> int:
    """The checksum field for a one's complement sum: its complement."""
    return _MOD - total


def internet_checksum(data: BytesLike) -> int:
    """The RFC 1071 checksum of ``data`` (0xffff for all-zero data)."""
    return _MOD - _fold(_whole(data))


def is_valid(data: BytesLike) -> bool:
    """True when ``data`` includes a correct checksum field (its sum is 0xffff)."""
    return _fold(_whole(data)) == _MOD


def residue(data: BytesLike, start: int = 0, end: int | None = None) -> int:
    """The word sum of ``data[start:end]`` modulo 0xffff (0 stands for both 0 and 0xffff).

    Cheapest form for code that adds further terms and reduces once at the end;
    a non-zero big-endian field of any width contributes its value modulo 0xffff.
    The range must lie within ``data``.
    """
    buf = data if type(data) is bytes else _contiguous(data)
    return _raw_sum(buf, start, len(buf) if end is None else end) % _MOD
