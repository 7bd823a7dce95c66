"""One-way links that carry opaque bytes through a simulator.

A link decides everything about a packet when it is sent (when it leaves the
queue, whether it is lost, corrupted, held back or doubled) and schedules its
arrival; only cuts are checked again on arrival. All randomness comes from the
link's own ``random.Random(seed)`` and is drawn in a fixed order, so the same
seed and the same sends give the same run.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable

from debugnet.errors import LocalProtocolError
from debugnet.sim.config import LinkConfig, LinkStats
from debugnet.sim.scheduler import Simulator
from debugnet.sim.trace import TraceHook, TraceKind

Deliver = Callable[[bytes], None]


def flip_bit(data: bytes, bit: int) -> bytes:
    """Return ``data`` with bit number ``bit`` (LSB-first within bytes) inverted."""
    out = bytearray(data)
    out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)


class Link:
    """One direction of a wire: rate, delay, jitter and random impairments.

    ``data`` handed to :meth:`send` is delivered as the same object unless it
    was corrupted, so senders must not mutate it afterwards.
    """

    __slots__ = (
        "_arrive_cb",
        "_base_cut",
        "_busy_until",
        "_config",
        "_deliver",
        "_impaired",
        "_in_flight",
        "_last_arrival",
        "_order",
        "_rng",
        "_sim",
        "_trace",
        "_transitions",
        "_waiting",
        "name",
        "stats",
    )

    def __init__(
        self,
        sim: Simulator,
        config: LinkConfig,
        deliver: Deliver,
        seed: int = 0,
        name: str = "",
        trace: TraceHook | None = None,
    ) -> None:
        self._sim = sim
        self._deliver = deliver
        self._rng = random.Random(seed)
        self.name = name
        self.stats = LinkStats()
        self._trace = trace
        self._busy_until = sim.now
        # Start times of packets queued behind the one being serialized.
        self._waiting: deque[float] = deque()
        self._last_arrival = sim.now
        self._in_flight = 0
        # Future cut/restore changes as (time, order, is_cut), sorted; the
        # state before the first of them is _base_cut.
        self._base_cut = False
        self._transitions: list[tuple[float, int, bool]] = []
        self._order = itertools.count()
        self._arrive_cb = self._arrive
        self._config = config
        self._impaired = config.impaired

    @property
    def config(self) -> LinkConfig:
        return self._config

    @config.setter
    def config(self, config: LinkConfig) -> None:
        self._config = config
        self._impaired = config.impaired

    @property
    def deliver(self) -> Deliver:
        return self._deliver

    @deliver.setter
    def deliver(self, deliver: Deliver) -> None:
        """Rebind the receiver, e.g. once the endpoint that owns the link exists."""
        self._deliver = deliver

    @property
    def in_flight(self) -> int:
        """Packet copies scheduled to arrive and not yet arrived."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Packets waiting behind the one being serialized right now."""
        self._drain_waiting(self._sim.now)
        return len(self._waiting)

    @property
    def is_cut(self) -> bool:
        return self._cut_state(self._sim.now)

    # -- cuts ---------------------------------------------------------------

    def cut(self, at: float | None = None) -> None:
        self._add_transition(at, True)

    def restore(self, at: float | None = None) -> None:
        self._add_transition(at, False)

    def cut_between(self, start: float, end: float) -> None:
        """Cut for ``start <= t < end``: sends and arrivals in it are dropped."""
        if end < start:
            raise LocalProtocolError(f"cut_between({start!r}, {end!r}): end before start")
        self._add_transition(start, True)
        self._add_transition(end, False)

    def _add_transition(self, at: float | None, is_cut: bool) -> None:
        now = self._sim.now
        when = now if at is None else float(at)
        if when < now:
            raise LocalProtocolError(f"cut/restore at {when!r} is before now ({now!r})")
        bisect.insort(self._transitions, (when, next(self._order), is_cut))
        self._cut_state(now)

    def _cut_state(self, now: float) -> bool:
        # Queries come at the simulator's current time, which never decreases,
        # so transitions already reached can be folded into the base state.
        tr = self._transitions
        while tr and tr[0][0] <= now:
            self._base_cut = tr.pop(0)[2]
        return self._base_cut

    # -- sending ------------------------------------------------------------

    def _drain_waiting(self, now: float) -> None:
        waiting = self._waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()

    def send(self, data: bytes) -> None:
        sim = self._sim
        now = sim._now
        stats = self.stats
        stats.sent += 1
        trace = self._trace
        if trace is not None:
            trace(now, self.name, TraceKind.SENT, data)
        if (self._transitions or self._base_cut) and self._cut_state(now):
            stats.dropped_cut += 1
            if trace is not None:
                trace(now, self.name, TraceKind.DROPPED_CUT, data)
            return
        cfg = self._config
        rate = cfg.rate_bps
        if rate is None:
            done = now
        else:
            waiting = self._waiting
            while waiting and waiting[0] <= now:
                waiting.popleft()
            limit = cfg.queue_limit
            if limit is not None and len(waiting) >= limit and self._busy_until > now:
                stats.dropped_queue += 1
                if trace is not None:
                    trace(now, self.name, TraceKind.DROPPED_QUEUE, data)
                return
            start = self._busy_until
            if start > now:
                waiting.append(start)
            else:
                start = now
            done = start + len(data) * 8 / rate
            self._busy_until = done
        arrival = done + cfg.delay
        if self._impaired:
            self._send_impaired(data, arrival)
            return
        if arrival < self._last_arrival:
            arrival = self._last_arrival
        self._last_arrival = arrival
        self._in_flight += 1
        heapq.heappush(sim._heap, [arrival, next(sim._seq), self._arrive_cb, data])

    def _send_impaired(self, data: bytes, arrival: float) -> None:
        cfg = self._config
        rng = self._rng
        stats = self.stats
        trace = self._trace
        now = self._sim._now
        if cfg.loss and rng.random() < cfg.loss:
            stats.lost += 1
            if trace is not None:
                trace(now, self.name, TraceKind.LOST, data)
            return
        if cfg.corrupt and data and rng.random() < cfg.corrupt:
            data = flip_bit(data, rng.randrange(len(data) * 8))
            stats.corrupted += 1
            if trace is not None:
                trace(now, self.name, TraceKind.CORRUPTED, data)
        if cfg.jitter:
            arrival += rng.random() * cfg.jitter
        if arrival < self._last_arrival:
            arrival = self._last_arrival
        if cfg.reorder and rng.random() < cfg.reorder:
            # Held back without moving _last_arrival, so later packets pass it.
            arrival += cfg.reorder_delay
            stats.reordered += 1
            if trace is not None:
                trace(now, self.name, TraceKind.REORDERED, data)
        else:
            self._last_arrival = arrival
        self._schedule(arrival, data)
        if cfg.duplicate and rng.random() < cfg.duplicate:
            stats.duplicated += 1
            if trace is not None:
                trace(now, self.name, TraceKind.DUPLICATED, data)
            self._schedule(arrival, data)

    def _schedule(self, arrival: float, data: bytes) -> None:
        self._in_flight += 1
        self._sim.schedule(arrival, self._arrive_cb, data)

    def _arrive(self, data: bytes) -> None:
        self._in_flight -= 1
        stats = self.stats
        trace = self._trace
        if (self._transitions or self._base_cut) and self._cut_state(self._sim._now):
            stats.dropped_cut += 1
            if trace is not None:
                trace(self._sim._now, self.name, TraceKind.DROPPED_CUT, data)
            return
        stats.delivered += 1
        stats.bytes_delivered += len(data)
        if trace is not None:
            trace(self._sim._now, self.name, TraceKind.DELIVERED, data)
        self._deliver(data)

    def __repr__(self) -> str:
        return f"<Link {self.name!r} {self._config!r}>"


def derive_seeds(seed: int, count: int) -> list[int]:
    """Independent-looking seeds from one, stable across Python runs."""
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(count)]


def duplex(
    sim: Simulator,
    config: LinkConfig,
    deliver_a: Deliver,
    deliver_b: Deliver,
    seed: int = 0,
    name: str = "",
    trace: TraceHook | None = None,
    config_b_to_a: LinkConfig | None = None,
) -> tuple[Link, Link]:
    """Two independent links: (a -> b delivering to ``deliver_b``, b -> a to ``deliver_a``).

    Each direction gets its own derived seed so impairments on one do not
    mirror the other.
    """
    seed_ab, seed_ba = derive_seeds(seed, 2)
    prefix = f"{name}:" if name else ""
    a_to_b = Link(sim, config, deliver_b, seed=seed_ab, name=f"{prefix}a->b", trace=trace)
    back = config if config_b_to_a is None else config_b_to_a
    b_to_a = Link(sim, back, deliver_a, seed=seed_ba, name=f"{prefix}b->a", trace=trace)
    return a_to_b, b_to_a
