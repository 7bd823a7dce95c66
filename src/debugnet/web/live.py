"""The read-only view of dumps being received that a running server offers the dashboard.

The web layer never reaches into the server: ``debugnet serve --web`` hands
the app an object with an ``arriving()`` method returning values shaped like
``Arriving``; ``debugnet web`` alone has none and shows only the catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Arriving:
    """One dump in progress, as of ``now`` (seconds on the server's monotonic clock)."""

    host: str
    ip: str
    bytes: int
    length: int | None
    """The KDH's dump length, once the KDH has arrived."""
    elapsed: float
    """Seconds since the herald."""
    idle: float
    """Seconds since the last packet."""

    @property
    def rate(self) -> float:
        """Average bytes per second so far."""
        return self.bytes / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def percent(self) -> float | None:
        if not self.length:
            return None
        return min(100.0, 100.0 * self.bytes / self.length)


class LiveStatus(Protocol):
    def arriving(self) -> Sequence[Arriving]: ...
