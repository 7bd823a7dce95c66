"""Virtual clock and event scheduler.

Time is a float of virtual seconds that only moves when an event runs, so a
run takes as long as its events cost to execute, not as long as they would
take on a real network. Events at the same instant run in the order they were
scheduled, which keeps runs reproducible.

Heap entries are plain lists ``[when, seq, fn, arg]``: list comparison stops at
the unique ``seq``, the callable is never compared, and cancelling is a single
store (``fn = None``) instead of a heap removal. Internal users (links) schedule
``fn(arg)`` directly, so the hot path builds no closure per packet.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from debugnet.errors import LocalProtocolError

# [when, seq, fn or None, arg]; a list so cancel and "has fired" are one store.
Entry = list[Any]


def _call(fn: Callable[[], None]) -> None:
    fn()


class Timer:
    """Handle on one scheduled call; cancel() stops it if it has not run."""

    __slots__ = ("_entry", "_sim")

    def __init__(self, sim: Simulator, entry: Entry) -> None:
        self._sim = sim
        self._entry = entry

    @property
    def when(self) -> float:
        when: float = self._entry[0]
        return when

    @property
    def active(self) -> bool:
        """True until the timer fires or is cancelled."""
        return self._entry[2] is not None

    def cancel(self) -> None:
        if self._entry[2] is None:
            return
        self._entry[2] = None
        self._entry[3] = None
        self._sim._cancelled += 1

    def __repr__(self) -> str:
        state = "active" if self.active else "done"
        return f"<Timer at {self.when!r} {state}>"


class Simulator:
    """Discrete-event scheduler over a clock that never goes backwards."""

    __slots__ = ("_cancelled", "_events_run", "_heap", "_now", "_seq")

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._cancelled = 0
        self._events_run = 0

    @property
    def now(self) -> float:
        return self._now

    @property
    def events_run(self) -> int:
        """Events executed since creation (cancelled timers excluded)."""
        return self._events_run

    def call_at(self, when: float, fn: Callable[[], None]) -> Timer:
        if when < self._now:
            raise LocalProtocolError(f"call_at({when!r}) is before now ({self._now!r})")
        entry: Entry = [float(when), next(self._seq), _call, fn]
        heapq.heappush(self._heap, entry)
        return Timer(self, entry)

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        if delay < 0:
            raise LocalProtocolError(f"call_later({delay!r}) is negative")
        return self.call_at(self._now + delay, fn)

    def schedule(self, when: float, fn: Callable[[Any], None], arg: Any) -> None:
        """Run ``fn(arg)`` at ``when``, uncancellable: the cheap path for links.

        The caller guarantees ``when >= now``; this is not checked because it
        is called once per packet.
        """
        heapq.heappush(self._heap, [when, next(self._seq), fn, arg])

    def pending(self) -> int:
        """Scheduled events that have neither run nor been cancelled."""
        return len(self._heap) - self._cancelled

    def next_time(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
            self._cancelled -= 1
        if not heap:
            return None
        when: float = heap[0][0]
        return when

    def step(self) -> bool:
        """Run the next event, advancing the clock to its time."""
        heap = self._heap
        while heap:
            entry = heapq.heappop(heap)
            fn = entry[2]
            if fn is None:
                self._cancelled -= 1
                continue
            entry[2] = None
            self._now = entry[0]
            self._events_run += 1
            fn(entry[3])
            return True
        return False

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Run events in order; return how many ran.

        With ``until``, events at or before it run and the clock then rests at
        ``until`` exactly, unless ``max_events`` stopped the run early (moving
        the clock past events still due would make them run in the past).
        """
        if until is not None and until < self._now:
            raise LocalProtocolError(f"run(until={until!r}) is before now ({self._now!r})")
        limit = -1 if max_events is None else max_events
        if limit == 0:
            return 0
        horizon = float("inf") if until is None else until
        ran = self._loop(horizon, limit)
        self._events_run += ran
        if until is not None and self._now < until:
            nxt = self.next_time()
            if nxt is None or nxt > until:
                self._now = until
        return ran

    def _loop(self, horizon: float, limit: int) -> int:
        heap = self._heap
        pop = heapq.heappop
        ran = 0
        try:
            while heap:
                entry = heap[0]
                when = entry[0]
                if when > horizon:
                    break
                pop(heap)
                fn = entry[2]
                if fn is None:
                    self._cancelled -= 1
                    continue
                entry[2] = None
                self._now = when
                ran += 1
                fn(entry[3])
                if ran == limit:
                    break
        except BaseException:
            self._events_run += ran
            raise
        return ran
