"""The one-line progress display of ``debugnet send``, fitted to the terminal.

A line as wide as the terminal or wider makes the terminal wrap, and every
redraw then scrolls a new line; so the line is built from parts in order of
importance and the least important ones go first when the width is short.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TextIO

_BAR_MAX = 30
_BAR_MIN = 10
_SEP = "  "


def human(n: float) -> str:
    """Bytes with a decimal unit, as the rates are given (MB/s)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the line shows: the transfer's counters and its age."""

    bytes_read: int
    bytes_acked: int
    size: int | None
    retransmissions: int
    elapsed: float
    compressing: bool


def _parts(s: Snapshot) -> list[tuple[int, str]]:
    """(priority, text) in display order; priority 0 is never dropped, higher drops first."""
    elapsed = max(s.elapsed, 1e-6)
    done = s.bytes_read if s.compressing else s.bytes_acked
    parts: list[tuple[int, str]] = []
    amount = human(done) + (f" of {human(s.size)}" if s.size else "")
    if s.size:
        frac = min(s.bytes_read / s.size, 1.0) if s.size else 0.0
        parts.append((0, f"{frac:4.0%} {amount}"))
        parts.append((4, "[bar]"))
    else:
        parts.append((0, amount))
    rate = done / elapsed
    parts.append((1, f"{'in ' if s.compressing else ''}{rate / 1e6:.1f} MB/s"))
    if s.compressing:
        parts.append((3, f"sent {human(s.bytes_acked)}"))
    if s.size and rate > 0:
        left = int(max(s.size - s.bytes_read, 0) / rate)
        parts.append((2, f"ETA {left // 60}:{left % 60:02d}"))
    parts.append((5, f"retrans {s.retransmissions}"))
    return parts


def render(s: Snapshot, columns: int) -> str:
    """The line for a terminal ``columns`` wide: at most ``columns - 1`` characters.

    The last column is left free: writing into it makes some terminals wrap.
    """
    room = max(columns - 1, 1)
    parts = _parts(s)
    while True:
        fixed = _SEP.join(t for _, t in parts if t != "[bar]")
        has_bar = any(t == "[bar]" for _, t in parts)
        bar_room = room - len(fixed) - len(_SEP) - 2
        if has_bar and bar_room >= _BAR_MIN:
            width = min(bar_room, _BAR_MAX)
            frac = min(s.bytes_read / s.size, 1.0) if s.size else 0.0
            bar = "[" + ("#" * int(frac * width)).ljust(width) + "]"
            return _SEP.join(bar if t == "[bar]" else t for _, t in parts)
        if not has_bar and len(fixed) <= room:
            return fixed
        droppable = [p for p in parts if p[0] > 0]
        if not droppable:
            return fixed[:room]
        parts.remove(max(droppable, key=lambda p: p[0]))


def terminal_columns(out: TextIO, fallback: int = 80) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns or fallback
    except (OSError, ValueError):
        return fallback


class Progress:
    """The line redrawn in place; asks the terminal its width at every redraw (resizes)."""

    def __init__(self, out: TextIO, *, compressing: bool = False) -> None:
        self.out = out
        self.compressing = compressing
        self.start = time.monotonic()
        self.width = 0

    def __call__(self, p: object) -> None:
        from debugnet.netdump.client import DumpProgress

        assert isinstance(p, DumpProgress)
        snap = Snapshot(
            p.bytes_read,
            p.bytes_acked,
            p.size,
            p.retransmissions,
            time.monotonic() - self.start,
            self.compressing,
        )
        columns = terminal_columns(self.out)
        line = render(snap, columns)
        pad = max(min(self.width, columns - 1) - len(line), 0)
        self.width = len(line)
        self.out.write("\r" + line + " " * pad)
        self.out.flush()

    def end(self) -> None:
        if self.width:
            self.out.write("\n")
            self.out.flush()
