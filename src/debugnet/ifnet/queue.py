"""Bounded packet queues that count what they drop (if.c's ``ifqueue``)."""

from __future__ import annotations

from collections import deque

IFQ_MAXLEN = 256
"""Default queue length, as NetBSD's ``ifqmaxlen``."""


class IfQueue:
    """A FIFO of frames with a hard limit.

    A full queue refuses the frame and counts a drop instead of growing: the
    driver cannot keep up and the caller must know, as IF_QFULL/IF_DROP do.
    ``maxlen == 0`` refuses everything, which is how a detached interface stops
    taking packets.
    """

    __slots__ = ("_items", "drops", "maxlen")

    def __init__(self, maxlen: int = IFQ_MAXLEN) -> None:
        if maxlen < 0:
            raise ValueError(f"queue length must be >= 0, not {maxlen}")
        self._items: deque[bytes] = deque()
        self.maxlen = maxlen
        self.drops = 0

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.maxlen

    def enqueue(self, frame: bytes) -> bool:
        """Append ``frame``; False (and one more drop) when the queue is full."""
        if len(self._items) >= self.maxlen:
            self.drops += 1
            return False
        self._items.append(frame)
        return True

    def dequeue(self) -> bytes | None:
        items = self._items
        return items.popleft() if items else None

    def purge(self, *, count_drops: bool = False) -> int:
        """Throw everything away and say how much.

        if_down purges silently (IFQ_PURGE); detach counts what it throws away
        as drops (if_detach_queues), so both are available.
        """
        n = len(self._items)
        self._items.clear()
        if count_drops:
            self.drops += n
        return n
