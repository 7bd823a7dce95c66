"""Tests for the discrete-event simulator: clock, scheduler, links.

Impairment rates are checked over many packets against binomial bounds (5
sigma). Seeds are fixed, so every run is the same run; the bounds check that
the configured probability is what the link actually applies.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import debugnet.sim
from debugnet.errors import InvalidArgument, LocalProtocolError
from debugnet.sim import (
    Link,
    LinkConfig,
    Simulator,
    TraceKind,
    TraceRecorder,
    derive_seeds,
    duplex,
    flip_bit,
)

N = 20_000


def assert_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> None:
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - mean) <= sigmas * sd, f"{count} vs expected {mean:.0f} +- {sd:.1f}"


def payload(i: int, size: int = 64) -> bytes:
    """Distinct per packet and self-identifying: the index repeated."""
    return (struct.pack("!I", i) * (size // 4 + 1))[:size]


class Sink:
    """Collects (time, data) of every delivery."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.got: list[tuple[float, bytes]] = []

    def __call__(self, data: bytes) -> None:
        self.got.append((self.sim.now, data))

    @property
    def data(self) -> list[bytes]:
        return [d for _, d in self.got]

    @property
    def indices(self) -> list[int]:
        return [struct.unpack_from("!I", d)[0] for _, d in self.got]


def make_link(config: LinkConfig, seed: int = 1) -> tuple[Simulator, Link, Sink]:
    sim = Simulator()
    sink = Sink(sim)
    return sim, Link(sim, config, sink, seed=seed), sink


def send_paced(sim: Simulator, link: Link, count: int, gap: float, size: int = 64) -> None:
    """Send ``count`` packets ``gap`` seconds apart, starting now."""
    for i in range(count):
        sim.call_at(sim.now + i * gap, lambda i=i: link.send(payload(i, size)))  # type: ignore[misc]


# -- clock and scheduler ---------------------------------------------------------


def test_clock_starts_where_told_and_never_goes_backwards() -> None:
    sim = Simulator(start=10.0)
    assert sim.now == 10.0
    seen: list[float] = []
    for when in (13.0, 11.0, 12.5, 11.0, 10.0):
        sim.call_at(when, lambda: seen.append(sim.now))
    assert sim.run() == 5
    assert seen == sorted(seen) == [10.0, 11.0, 11.0, 12.5, 13.0]
    assert sim.now == 13.0


def test_call_at_in_the_past_is_refused() -> None:
    sim = Simulator(start=5.0)
    with pytest.raises(LocalProtocolError):
        sim.call_at(4.999, lambda: None)
    with pytest.raises(LocalProtocolError):
        sim.call_later(-0.1, lambda: None)
    assert sim.pending() == 0


def test_call_at_now_is_allowed_and_call_later_is_relative() -> None:
    sim = Simulator(start=2.0)
    fired: list[float] = []
    sim.call_at(2.0, lambda: fired.append(sim.now))
    timer = sim.call_later(0.25, lambda: fired.append(sim.now))
    assert timer.when == 2.25
    sim.run()
    assert fired == [2.0, 2.25]


def test_same_time_events_run_in_scheduling_order() -> None:
    sim = Simulator()
    order: list[int] = []
    for i in range(50):
        sim.call_at(1.0, lambda i=i: order.append(i))  # type: ignore[misc]
    sim.run()
    assert order == list(range(50))


def test_event_scheduled_for_now_by_an_event_runs_after_those_already_due() -> None:
    sim = Simulator()
    order: list[str] = []

    def first() -> None:
        order.append("first")
        sim.call_at(sim.now, lambda: order.append("spawned"))

    sim.call_at(1.0, first)
    sim.call_at(1.0, lambda: order.append("second"))
    assert sim.run() == 3
    assert order == ["first", "second", "spawned"]


def test_cancelled_timer_never_fires() -> None:
    sim = Simulator()
    fired: list[str] = []
    keep = sim.call_at(1.0, lambda: fired.append("keep"))
    drop = sim.call_at(0.5, lambda: fired.append("drop"))
    assert sim.pending() == 2
    drop.cancel()
    assert not drop.active and keep.active
    assert sim.pending() == 1
    assert sim.next_time() == 1.0
    assert sim.run() == 1
    assert fired == ["keep"]
    assert sim.pending() == 0


def test_cancel_twice_or_after_firing_is_a_noop() -> None:
    sim = Simulator()
    fired: list[int] = []
    timer = sim.call_at(1.0, lambda: fired.append(1))
    other = sim.call_at(2.0, lambda: fired.append(2))
    assert sim.step()
    assert not timer.active
    timer.cancel()
    timer.cancel()
    assert sim.pending() == 1
    other.cancel()
    other.cancel()
    assert sim.pending() == 0
    assert not sim.step()
    assert fired == [1]


def test_cancel_after_run_fired_it_is_a_noop() -> None:
    sim = Simulator()
    timer = sim.call_at(1.0, lambda: None)
    sim.call_at(2.0, lambda: None)
    assert sim.run(until=1.5) == 1
    assert not timer.active
    timer.cancel()
    assert sim.pending() == 1
    assert sim.run() == 1


def test_step_and_run_skip_cancelled_entries() -> None:
    sim = Simulator()
    fired: list[float] = []
    for when in (1.0, 2.0, 3.0, 4.0):
        timer = sim.call_at(when, lambda: fired.append(sim.now))
        if when in (1.0, 3.0):
            timer.cancel()
    assert sim.step()
    assert sim.now == 2.0
    assert sim.pending() == 1
    assert sim.run() == 1
    assert sim.pending() == 0
    assert fired == [2.0, 4.0]


def test_step_runs_one_event_and_advances_clock() -> None:
    sim = Simulator()
    assert not sim.step()
    assert sim.next_time() is None
    sim.call_at(3.0, lambda: None)
    sim.call_at(4.0, lambda: None)
    assert sim.next_time() == 3.0
    assert sim.step()
    assert sim.now == 3.0
    assert sim.pending() == 1
    assert sim.step()
    assert sim.now == 4.0
    assert not sim.step()
    assert sim.now == 4.0
    assert sim.events_run == 2


def test_run_until_stops_at_last_event_then_sets_now() -> None:
    sim = Simulator()
    fired: list[float] = []
    for when in (1.0, 2.0, 3.0, 4.0):
        sim.call_at(when, lambda: fired.append(sim.now))
    assert sim.run(until=3.0) == 3
    assert fired == [1.0, 2.0, 3.0]
    assert sim.now == 3.0
    assert sim.run(until=3.5) == 0
    assert sim.now == 3.5
    assert sim.pending() == 1
    assert sim.run() == 1
    assert sim.now == 4.0


def test_run_until_with_no_events_moves_clock() -> None:
    sim = Simulator()
    assert sim.run(until=7.0) == 0
    assert sim.now == 7.0
    with pytest.raises(LocalProtocolError):
        sim.run(until=6.0)


def test_run_max_events_does_not_jump_past_due_events() -> None:
    sim = Simulator()
    for when in (1.0, 2.0, 3.0):
        sim.call_at(when, lambda: None)
    assert sim.run(until=10.0, max_events=2) == 2
    assert sim.now == 2.0
    assert sim.run(max_events=0) == 0
    assert sim.run(until=10.0, max_events=5) == 1
    assert sim.now == 10.0


def test_run_until_skips_cancelled_events_beyond_horizon() -> None:
    sim = Simulator()
    sim.call_at(5.0, lambda: None).cancel()
    assert sim.run(until=2.0) == 0
    assert sim.now == 2.0
    assert sim.pending() == 0


def test_exception_in_callback_propagates_and_consumes_event() -> None:
    sim = Simulator()

    def boom() -> None:
        raise RuntimeError("boom")

    fired: list[int] = []
    sim.call_at(1.0, boom)
    sim.call_at(2.0, lambda: fired.append(2))
    with pytest.raises(RuntimeError):
        sim.run()
    assert sim.now == 1.0
    assert sim.events_run == 1
    assert sim.run() == 1
    assert fired == [2]


@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.booleans()),
        max_size=60,
    )
)
def test_scheduler_runs_uncancelled_events_in_time_then_fifo_order(
    plan: list[tuple[int, bool]],
) -> None:
    sim = Simulator()
    ran: list[int] = []
    for i, (when, cancel) in enumerate(plan):
        timer = sim.call_at(when / 4, lambda i=i: ran.append(i))  # type: ignore[misc]
        if cancel:
            timer.cancel()
    kept = [i for i, (_, cancel) in enumerate(plan) if not cancel]
    assert sim.pending() == len(kept)
    assert sim.run() == len(kept)
    assert ran == sorted(kept, key=lambda i: (plan[i][0], i))


# -- delay, rate, queue ----------------------------------------------------------


def test_delay_is_exact_for_each_packet() -> None:
    sim, link, sink = make_link(LinkConfig(delay=0.125))
    send_paced(sim, link, 10, gap=0.5)
    sim.run()
    assert sink.got == [(i * 0.5 + 0.125, payload(i)) for i in range(10)]


def test_burst_arrives_at_serialization_plus_delay() -> None:
    rate, delay, size, count = 1e9, 0.0005, 1448, 1000
    sim, link, sink = make_link(LinkConfig(rate_bps=rate, delay=delay))
    for i in range(count):
        link.send(payload(i, size))
    sim.run()
    assert sink.indices == list(range(count))
    per_packet = size * 8 / rate
    for i, (when, _) in enumerate(sink.got):
        assert when == pytest.approx((i + 1) * per_packet + delay, rel=1e-9)
    assert sim.now == pytest.approx(count * size * 8 / rate + delay, rel=1e-9)


def test_idle_link_does_not_bank_capacity() -> None:
    sim, link, sink = make_link(LinkConfig(rate_bps=8000.0))  # 1 ms per byte
    link.send(b"x" * 10)
    sim.run(until=1.0)
    link.send(b"y" * 10)
    sim.run()
    assert [t for t, _ in sink.got] == pytest.approx([0.010, 1.010])


def test_queue_limit_drops_tail_of_burst() -> None:
    sim, link, sink = make_link(LinkConfig(rate_bps=1e6, queue_limit=5))
    for i in range(20):
        link.send(payload(i, 125))  # 1 ms each
    # One on the wire, five waiting, the rest dropped.
    assert link.queued == 5
    assert link.stats.dropped_queue == 14
    sim.run(until=0.0025)  # two serialized, a third on the wire: room for two
    for i in range(20, 25):
        link.send(payload(i, 125))
    sim.run()
    assert sink.indices == [0, 1, 2, 3, 4, 5, 20, 21]
    assert link.stats.dropped_queue == 17


def test_queue_limit_zero_keeps_only_the_packet_on_the_wire() -> None:
    sim, link, sink = make_link(LinkConfig(rate_bps=1e6, queue_limit=0))
    link.send(payload(0, 125))
    link.send(payload(1, 125))
    sim.run(until=0.001)
    link.send(payload(2, 125))
    sim.run()
    assert sink.indices == [0, 2]


def test_packet_leaves_queue_the_instant_its_serialization_starts() -> None:
    sim, link, sink = make_link(LinkConfig(rate_bps=8192.0, queue_limit=1))  # 1024 B = 1 s
    link.send(payload(0, 1024))
    link.send(payload(1, 1024))
    link.send(payload(2, 1024))  # dropped: one waiting already
    sim.call_at(1.0, lambda: link.send(payload(3, 1024)))  # 1 just went on the wire
    sim.run()
    assert sink.indices == [0, 1, 3]
    assert [t for t, _ in sink.got] == [1.0, 2.0, 3.0]


def test_paced_at_line_rate_never_drops() -> None:
    rate, size = 1e6, 125
    sim, link, sink = make_link(LinkConfig(rate_bps=rate, queue_limit=0))
    send_paced(sim, link, 1000, gap=size * 8 / rate)
    sim.run()
    assert link.stats.dropped_queue == 0
    assert len(sink.got) == 1000


def test_config_change_applies_to_later_sends() -> None:
    sim, link, sink = make_link(LinkConfig(delay=1.0))
    link.send(payload(0))
    link.config = LinkConfig(delay=2.0, loss=1.0)
    link.send(payload(1))
    link.config = LinkConfig(delay=3.0)
    link.send(payload(2))
    sim.run()
    assert sink.got == [(1.0, payload(0)), (3.0, payload(2))]
    assert link.stats.lost == 1


def test_receiver_can_be_rebound_while_packets_are_in_flight() -> None:
    sim, link, first = make_link(LinkConfig(delay=1.0))
    second = Sink(sim)
    link.send(payload(0))
    link.deliver = second
    assert link.deliver is second
    sim.run()
    assert first.got == []
    assert second.indices == [0]


def test_shorter_delay_after_change_does_not_overtake() -> None:
    sim, link, sink = make_link(LinkConfig(delay=1.0))
    link.send(payload(0))
    link.config = LinkConfig(delay=0.1)
    link.send(payload(1))
    sim.run()
    assert sink.indices == [0, 1]


# -- random impairments ----------------------------------------------------------


def test_loss_rate() -> None:
    sim, link, sink = make_link(LinkConfig(loss=0.1, delay=0.01))
    send_paced(sim, link, N, gap=0.001)
    sim.run()
    assert_binomial(link.stats.lost, N, 0.1)
    assert len(sink.got) == N - link.stats.lost == link.stats.delivered
    assert sink.indices == sorted(set(sink.indices))


def test_total_loss_and_no_loss() -> None:
    for p, expected in ((1.0, 0), (0.0, 500)):
        sim, link, sink = make_link(LinkConfig(loss=p))
        send_paced(sim, link, 500, gap=0.001)
        sim.run()
        assert len(sink.got) == expected


def test_duplication_rate() -> None:
    sim, link, sink = make_link(LinkConfig(duplicate=0.05, delay=0.01))
    send_paced(sim, link, N, gap=0.001)
    sim.run()
    assert_binomial(link.stats.duplicated, N, 0.05)
    assert len(sink.got) == N + link.stats.duplicated
    counts = [0] * N
    for i in sink.indices:
        counts[i] += 1
    assert set(counts) == {1, 2}
    assert counts.count(2) == link.stats.duplicated
    # Both copies carry the same bytes and arrive together.
    assert sink.data == [payload(i) for i in sink.indices]


def out_of_order(indices: list[int]) -> int:
    """Deliveries of a packet after some later-sent packet was delivered."""
    late, highest = 0, -1
    for i in indices:
        if i < highest:
            late += 1
        highest = max(highest, i)
    return late


def test_reorder_rate() -> None:
    rate, size = 1e7, 125  # 0.1 ms per packet
    config = LinkConfig(rate_bps=rate, delay=0.002, reorder=0.05, reorder_delay=0.001)
    sim, link, sink = make_link(config)
    for i in range(N):
        link.send(payload(i, size))
    sim.run()
    assert_binomial(link.stats.reordered, N, 0.05)
    assert sorted(sink.indices) == list(range(N))
    # Held 10 packet times, each is overtaken unless the next ten are all held.
    assert out_of_order(sink.indices) == link.stats.reordered


def test_reorder_delay_shorter_than_spacing_keeps_order() -> None:
    config = LinkConfig(rate_bps=1e6, reorder=0.5, reorder_delay=0.0001)
    sim, link, sink = make_link(config)
    for i in range(1000):
        link.send(payload(i, 125))  # 1 ms apart
    sim.run()
    assert link.stats.reordered > 0
    assert sink.indices == list(range(1000))


def test_jitter_bounds_and_mean() -> None:
    delay, jitter = 0.01, 0.004
    sim, link, sink = make_link(LinkConfig(delay=delay, jitter=jitter))
    send_paced(sim, link, N, gap=0.01)  # wider than jitter: no FIFO clamping
    sim.run()
    extra = [when - i * 0.01 - delay for i, (when, _) in zip(sink.indices, sink.got, strict=True)]
    assert min(extra) >= -1e-12
    assert max(extra) < jitter
    mean = sum(extra) / N
    sd_of_mean = jitter / math.sqrt(12 * N)
    assert abs(mean - jitter / 2) <= 5 * sd_of_mean
    # Spread over the whole interval, not a constant.
    assert min(extra) < 0.01 * jitter and max(extra) > 0.99 * jitter


def test_jitter_alone_never_reorders() -> None:
    sim, link, sink = make_link(LinkConfig(delay=0.01, jitter=0.05))
    send_paced(sim, link, N, gap=0.0001)
    sim.run()
    assert sink.indices == list(range(N))
    times = [t for t, _ in sink.got]
    assert times == sorted(times)


def test_corruption_rate_and_single_bit() -> None:
    size = 64
    sim, link, sink = make_link(LinkConfig(corrupt=0.1))
    send_paced(sim, link, N, gap=0.001, size=size)
    sim.run()
    assert len(sink.got) == N
    damaged_bytes: set[int] = set()
    damaged = 0
    for i, got in enumerate(sink.data):  # no reordering: delivery order is send order
        sent = payload(i, size)
        if got == sent:
            continue
        damaged += 1
        diff = [k for k in range(size) if got[k] != sent[k]]
        assert len(diff) == 1
        assert bin(got[diff[0]] ^ sent[diff[0]]).count("1") == 1
        damaged_bytes.add(diff[0])
    assert damaged == link.stats.corrupted
    assert_binomial(damaged, N, 0.1)
    assert damaged_bytes == set(range(size))


def test_corruption_reaches_every_bit() -> None:
    sim, link, sink = make_link(LinkConfig(corrupt=1.0))
    for _ in range(2000):
        link.send(b"\x00" * 4)
    sim.run()
    flipped = {int.from_bytes(d, "little").bit_length() - 1 for d in sink.data}
    assert all(bin(int.from_bytes(d, "little")).count("1") == 1 for d in sink.data)
    assert flipped == set(range(32))


def test_corruption_skips_empty_packets() -> None:
    sim, link, sink = make_link(LinkConfig(corrupt=1.0))
    link.send(b"")
    sim.run()
    assert sink.data == [b""]
    assert link.stats.corrupted == 0


def test_flip_bit() -> None:
    assert flip_bit(b"\x00\x00", 0) == b"\x01\x00"
    assert flip_bit(b"\x00\x00", 15) == b"\x00\x80"
    assert flip_bit(b"\xff", 3) == b"\xf7"


# -- cuts ------------------------------------------------------------------------

TICK = 1 / 1024  # binary fractions keep window edges exact


def test_cut_between_drops_sends_and_arrivals_in_window() -> None:
    sim, link, sink = make_link(LinkConfig(delay=5 * TICK))
    link.cut_between(20 * TICK, 50 * TICK)
    send_paced(sim, link, 100, gap=TICK)
    sim.run()
    # Sent in [20, 50) is dropped at send; sent in [15, 20) arrives in [20, 25).
    expected = [i for i in range(100) if not 15 <= i < 50]
    assert sink.indices == expected
    assert link.stats.dropped_cut == 35
    assert link.stats.delivered == 65


def test_cut_and_restore_now() -> None:
    sim, link, sink = make_link(LinkConfig(delay=1.0))
    link.send(payload(0))
    sim.run(until=0.5)
    link.cut()
    assert link.is_cut
    link.send(payload(1))
    link.restore()
    assert not link.is_cut
    link.send(payload(2))
    sim.run()
    # Packet 0 was in flight across the cut but arrived after the restore.
    assert sink.indices == [0, 2]
    assert link.stats.dropped_cut == 1


def test_cut_in_future_and_restore_later() -> None:
    sim, link, sink = make_link(LinkConfig(delay=0.0))
    link.cut(at=2.0)
    link.restore(at=3.0)
    for when in (1.0, 1.999, 2.0, 2.5, 2.999, 3.0, 4.0):
        sim.call_at(when, lambda w=when: link.send(struct.pack("!d", w)))  # type: ignore[misc]
    sim.run()
    assert [struct.unpack("!d", d)[0] for d in sink.data] == [1.0, 1.999, 3.0, 4.0]


def test_later_call_at_same_instant_wins() -> None:
    sim, link, sink = make_link(LinkConfig())
    link.cut(at=1.0)
    link.restore(at=1.0)
    sim.call_at(1.0, lambda: link.send(b"x"))
    sim.run()
    assert sink.data == [b"x"]


def test_cut_in_the_past_is_refused() -> None:
    sim, link, _ = make_link(LinkConfig())
    sim.run(until=1.0)
    with pytest.raises(LocalProtocolError):
        link.cut(at=0.5)
    with pytest.raises(LocalProtocolError):
        link.cut_between(2.0, 1.0)


# -- determinism, duplex, trace -----------------------------------------------------

NASTY = LinkConfig(
    rate_bps=1e7,
    delay=0.001,
    jitter=0.0005,
    loss=0.05,
    duplicate=0.05,
    reorder=0.05,
    reorder_delay=0.0003,
    corrupt=0.05,
    queue_limit=20,
)


def traced_run(seed: int) -> list[tuple[float, str, TraceKind, bytes]]:
    sim = Simulator()
    rec = TraceRecorder()
    link = Link(sim, NASTY, lambda _d: None, seed=seed, name="x", trace=rec)
    link.cut_between(0.05, 0.06)
    for i in range(3000):
        sim.call_at(i * 0.00005, lambda i=i: link.send(payload(i, 100)))  # type: ignore[misc]
    sim.run()
    return rec.records


def test_same_seed_same_trace() -> None:
    first = traced_run(7)
    assert first == traced_run(7)
    kinds = {r[2] for r in first}
    assert kinds == set(TraceKind)


def test_different_seed_different_trace() -> None:
    a = [r for r in traced_run(7) if r[2] is TraceKind.DELIVERED]
    b = [r for r in traced_run(8) if r[2] is TraceKind.DELIVERED]
    assert a != b


def test_duplex_links_are_independent_and_deliver_to_the_right_side() -> None:
    sim = Simulator()
    at_a, at_b = Sink(sim), Sink(sim)
    ab, ba = duplex(sim, LinkConfig(loss=0.5, delay=0.25), at_a, at_b, seed=3)
    assert ab.name == "a->b" and ba.name == "b->a"
    for i in range(200):
        ab.send(payload(i))
        ba.send(payload(i))
    sim.run()
    assert {t for t, _ in at_a.got} == {t for t, _ in at_b.got} == {0.25}
    assert at_a.indices != at_b.indices
    assert_binomial(ab.stats.lost, 200, 0.5)
    assert_binomial(ba.stats.lost, 200, 0.5)


def test_derive_seeds_is_stable_and_distinct() -> None:
    assert derive_seeds(0, 3) == derive_seeds(0, 3)
    assert len(set(derive_seeds(0, 3) + derive_seeds(1, 3))) == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": -0.1},
        {"duplicate": 1.5},
        {"reorder": float("nan")},
        {"delay": -1.0},
        {"jitter": float("inf")},
        {"rate_bps": 0.0},
        {"queue_limit": -1},
    ],
)
def test_config_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument):
        LinkConfig(**kwargs)  # type: ignore[arg-type]


# -- properties over any configuration -----------------------------------------------

probability = st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0])
configs = st.builds(
    LinkConfig,
    rate_bps=st.one_of(st.none(), st.sampled_from([1e4, 1e6, 1e9])),
    delay=st.sampled_from([0.0, 0.001, 0.1]),
    jitter=st.sampled_from([0.0, 0.0005, 0.05]),
    loss=probability,
    duplicate=probability,
    reorder=probability,
    reorder_delay=st.sampled_from([0.0, 0.001, 0.1]),
    corrupt=probability,
    queue_limit=st.one_of(st.none(), st.integers(0, 5)),
)
sends = st.lists(st.tuples(st.sampled_from([0.0, 0.0001, 0.01]), st.integers(8, 300)), max_size=80)
windows = st.one_of(st.none(), st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)))


def drive(
    config: LinkConfig,
    plan: list[tuple[float, int]],
    window: tuple[float, float] | None,
    seed: int,
    on_deliver: Callable[[float, bytes], None],
) -> Link:
    sim = Simulator()
    link = Link(sim, config, lambda d: on_deliver(sim.now, d), seed=seed)
    if window is not None:
        link.cut_between(min(window), max(window))
    when = 0.0
    for i, (gap, size) in enumerate(plan):
        when += gap
        sim.call_at(when, lambda i=i, s=size: link.send(payload(i, s)))  # type: ignore[misc]
    sim.run()
    return link


@settings(max_examples=200, deadline=None)
@given(configs, sends, windows, st.integers(0, 2**32))
def test_every_copy_is_accounted_for(
    config: LinkConfig,
    plan: list[tuple[float, int]],
    window: tuple[float, float] | None,
    seed: int,
) -> None:
    link = drive(config, plan, window, seed, lambda _t, _d: None)
    s = link.stats
    assert link.in_flight == 0
    assert s.sent == len(plan)
    assert s.sent + s.duplicated == s.delivered + s.lost + s.dropped_queue + s.dropped_cut


@settings(max_examples=200, deadline=None)
@given(configs, sends, st.integers(0, 2**32))
def test_nothing_arrives_before_send_time_plus_serialization_and_delay(
    config: LinkConfig, plan: list[tuple[float, int]], seed: int
) -> None:
    send_time: dict[bytes, float] = {}
    when = 0.0
    for i, (gap, size) in enumerate(plan):
        when += gap
        send_time[payload(i, size)] = when
    late: list[tuple[float, bytes]] = []
    link = drive(config, plan, None, seed, lambda t, d: late.append((t, d)))
    assert len(late) == link.stats.delivered
    for t, data in late:
        sent = send_time.get(data)
        if sent is None:  # corrupted: one flipped bit cannot turn into another payload
            assert link.stats.corrupted > 0
            continue
        floor = sent + config.delay
        if config.rate_bps is not None:
            floor += len(data) * 8 / config.rate_bps
        assert t >= floor - 1e-9


@settings(max_examples=100, deadline=None)
@given(configs, sends, windows, st.integers(0, 2**32))
def test_same_inputs_same_deliveries(
    config: LinkConfig,
    plan: list[tuple[float, int]],
    window: tuple[float, float] | None,
    seed: int,
) -> None:
    runs: list[list[tuple[float, bytes]]] = [[], []]
    for got in runs:
        drive(config, plan, window, seed, lambda t, d, got=got: got.append((t, d)))  # type: ignore[misc]
    assert runs[0] == runs[1]


@settings(max_examples=100, deadline=None)
@given(configs, sends, st.integers(0, 2**32))
def test_without_reorder_deliveries_keep_send_order(
    config: LinkConfig, plan: list[tuple[float, int]], seed: int
) -> None:
    config = dataclasses.replace(config, reorder=0.0, corrupt=0.0)
    got: list[int] = []
    drive(config, plan, None, seed, lambda _t, d: got.append(struct.unpack_from("!I", d)[0]))
    assert got == sorted(got)


# -- purity ------------------------------------------------------------------------

SIM_DIR = Path(debugnet.sim.__file__).parent
ALLOWED_IMPORTS = {
    "__future__",
    "bisect",
    "collections",
    "collections.abc",
    "dataclasses",
    "enum",
    "heapq",
    "itertools",
    "math",
    "random",
    "typing",
    "debugnet.errors",
}


@pytest.mark.parametrize("path", sorted(SIM_DIR.glob("*.py")), ids=lambda p: p.name)
def test_sim_uses_no_io_clock_or_global_random(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
            if node.module == "random":
                assert [a.name for a in node.names] == ["Random"]
        else:
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
            ):
                assert node.attr == "Random", f"{path.name}:{node.lineno} global random"
            continue
        for name in names:
            assert name in ALLOWED_IMPORTS or name.startswith("debugnet.sim"), name
