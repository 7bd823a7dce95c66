"""What the server has done, kept so that a scrape can read it and the receive path need not.

Per-datagram figures (bytes, acks, drops) already live in each session's
``SessionStats``; the tally keeps a reference to the live ones and folds a
session's figures into its totals once, when the session ends. A scrape sums
totals and live sessions under one lock, so counters never go backwards and
the hot path does no extra work at all. Heralds, dump ends and handler runs are
rare events and are counted directly.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600)
"""Seconds a dump took, from herald to its end."""
SIZE_BUCKETS: tuple[float, ...] = tuple(float(1 << s) for s in (20, 24, 26, 28, 30, 32, 34, 36, 38))
"""Dump bytes written: 1 MiB to 256 GiB."""


class LiveStats(Protocol):
    """The per-session figures a transport session keeps (``SessionStats``)."""

    @property
    def data_bytes(self) -> int: ...
    @property
    def acks(self) -> int: ...
    @property
    def dropped(self) -> Mapping[Any, int]:
        """Counts by reason (a ``str`` enum)."""
        ...


@dataclass(slots=True)
class Histogram:
    """Cumulative-ready bucket counts, a sum and a count (Prometheus' histogram model)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs ending with +Inf, as the exposition format wants them."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out

    def copy(self) -> Histogram:
        return Histogram(self.bounds, list(self.counts), self.total, self.n)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the server counts, at one instant."""

    heralds: dict[str, int]
    """By outcome: received (every datagram on the herald port), accepted (a session
    started), retransmitted (a herald for a session already running)."""
    heralds_refused: dict[str, int]
    sessions_active: int
    received_bytes: int
    acks_sent: int
    datagrams_dropped: dict[str, int]
    dumps_finished: dict[tuple[str, str], int]
    handler_runs: dict[str, int]
    duration: Histogram
    size: Histogram


class Tally:
    """Thread-safe totals of the server's work; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, LiveStats] = {}
        self._heralds: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._bytes = 0
        self._acks = 0
        self._dropped: Counter[str] = Counter()
        self._finished: Counter[tuple[str, str]] = Counter()
        self._handlers: Counter[str] = Counter()
        self._duration = Histogram(DURATION_BUCKETS)
        self._size = Histogram(SIZE_BUCKETS)
        self.active: Callable[[], int] | None = None
        """How many dumps are being received; without it, every live session counts
        (a session lingers a little after its dump has ended, re-acking FINISHED)."""

    def herald(self, outcome: str) -> None:
        """``received``, ``accepted`` or ``retransmitted``."""
        with self._lock:
            self._heralds[outcome] += 1

    def herald_refused(self, reason: str) -> None:
        """A herald that got no session: malformed, wrong_source_port, no_storage, no_socket."""
        with self._lock:
            self._refused[reason] += 1

    def session_started(self, stats: LiveStats) -> None:
        with self._lock:
            self._live[id(stats)] = stats

    def session_ended(self, stats: LiveStats) -> None:
        """Fold a session's figures into the totals (once; a second call does nothing)."""
        with self._lock:
            if self._live.pop(id(stats), None) is None:
                return
            self._bytes += stats.data_bytes
            self._acks += stats.acks
            self._dropped.update({str(k): n for k, n in stats.dropped.items()})

    def dump_finished(self, result: str, reason: str, seconds: float, size: int) -> None:
        with self._lock:
            self._finished[(result, reason)] += 1
            self._duration.observe(seconds)
            self._size.observe(size)

    def handler_ran(self, status: str) -> None:
        with self._lock:
            self._handlers[status] += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            live = list(self._live.values())
            dropped = Counter(self._dropped)
            for stats in live:
                dropped.update({str(k): n for k, n in dict(stats.dropped).items()})
            return Snapshot(
                heralds=dict(self._heralds),
                heralds_refused=dict(self._refused),
                sessions_active=self.active() if self.active is not None else len(live),
                received_bytes=self._bytes + sum(s.data_bytes for s in live),
                acks_sent=self._acks + sum(s.acks for s in live),
                datagrams_dropped=dict(dropped),
                dumps_finished=dict(self._finished),
                handler_runs=dict(self._handlers),
                duration=self._duration.copy(),
                size=self._size.copy(),
            )
