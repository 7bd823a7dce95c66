"""Which byte ranges of a dump arrived, so holes are reported instead of missed.

Data almost always arrives in order, so extending the last range is the fast
path; out-of-order pieces fall back to a bisect over sorted disjoint ranges.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator


class RangeSet:
    """Disjoint, sorted half-open ranges ``[start, end)``; adjacent ranges merge."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        starts, ends = self._starts, self._ends
        if starts and starts[-1] <= start <= ends[-1]:
            if end > ends[-1]:
                ends[-1] = end
            return
        i = bisect.bisect_left(ends, start)
        j = bisect.bisect_right(starts, end)
        if i < j:
            start = min(start, starts[i])
            end = max(end, ends[j - 1])
        starts[i:j] = [start]
        ends[i:j] = [end]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    def covered(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The sub-ranges of ``[start, end)`` not covered."""
        holes: list[tuple[int, int]] = []
        pos = start
        for s, e in zip(self._starts, self._ends, strict=True):
            if e <= pos:
                continue
            if s >= end:
                break
            if s > pos:
                holes.append((pos, s))
            pos = max(pos, e)
        if pos < end:
            holes.append((pos, end))
        return holes
