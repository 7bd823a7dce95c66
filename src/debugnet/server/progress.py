"""What a session says in the server log while it runs and when it ends.

Pure: fed the bytes received so far and ``now`` (monotonic seconds), it
returns the lines to log, so its rhythm is tested in virtual time. A dump in
progress gets a line every ``interval``; a dump that stops moving gets one
"stalled since" line (not a ``0.0 MB/s`` line every interval) and one line
when data comes again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field


def _clock(epoch: float, t: float) -> str:
    """Monotonic ``t`` as local wall-clock time, for a reader matching other logs."""
    return time.strftime("%H:%M:%S", time.localtime(epoch + t))


@dataclass
class ProgressLog:
    """The periodic lines of one session.

    ``epoch`` is wall-clock time minus monotonic time, to print when a stall began.
    """

    start: float
    interval: float
    epoch: float = field(default_factory=lambda: time.time() - time.monotonic())
    _last_bytes: int = 0
    _last_change: float = 0.0
    _line_bytes: int = 0
    _line_t: float = 0.0
    _stalled: bool = False

    def __post_init__(self) -> None:
        self._last_change = self._line_t = self.start

    def update(self, received: int, now: float) -> str | None:
        """Look at the byte count; a line to log, or None. Call at least every interval."""
        if received != self._last_bytes:
            self._last_bytes = received
            resumed_after = now - self._last_change if self._stalled else None
            self._last_change = now
            if resumed_after is not None:
                self._stalled = False
                self._line_bytes, self._line_t = received, now
                return f"data again after {resumed_after:.0f} s stalled, {received} bytes received"
        if now - self._line_t < self.interval:
            return None
        if self._stalled:
            return None
        if now - self._last_change >= max(self.interval, 1e-9) and received == self._line_bytes:
            self._stalled = True
            since = _clock(self.epoch, self._last_change)
            return f"stalled since {since}, {received} bytes received"
        rate = (received - self._line_bytes) / max(now - self._line_t, 1e-9) / 1e6
        self._line_bytes, self._line_t = received, now
        return f"{received} bytes received, {rate:.1f} MB/s"


def end_line(
    reason: str, state: str, size: int | None, seconds: float, panic: str | None, path: str
) -> str:
    """The one line a finished dump leaves: how it ended, how big its file is, why it came."""
    on_disk = "size unknown" if size is None else f"{size} bytes on disk"
    rate = f"{size / max(seconds, 1e-9) / 1e6:.1f} MB/s" if size is not None else "-"
    why = f"panic {panic!r}" if panic is not None else "no dump header"
    return f"dump ended ({reason}): {state}, {on_disk} in {seconds:.2f} s ({rate}), {why} -> {path}"


def summary_line(counters: Mapping[str, int]) -> str:
    """The server's counters as one readable line, most telling first."""
    if not counters:
        return "no heralds received"
    order = ["sessions", "dumps success", "dumps timeout", "dumps error", "heralds"]
    keys = [k for k in order if k in counters] + sorted(k for k in counters if k not in order)
    return ", ".join(f"{k}: {counters[k]}" for k in keys)  # no plural to get wrong
