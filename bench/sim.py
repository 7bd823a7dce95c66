"""Carry a bulk transfer over a simulated 1 Gbit/s link and time it.

Each delivered data packet is answered by a 4-byte packet on the reverse link,
and each such ack lets the sender put one more packet on the wire (a fixed
window), so the run exercises both directions the way a transport does.
The baseline is a bare heapq push/pop loop running the same number of events
in the same process: the ratio says what the simulator's bookkeeping costs.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import time
from dataclasses import dataclass
from typing import Any

from debugnet.sim import LinkConfig, Simulator, duplex

GIB = 1 << 30
ONE_MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Result:
    sim_seconds: float
    real_seconds: float
    events: int
    bytes_delivered: int
    acks: int


def transfer(total: int, payload: int, config: LinkConfig, window: int) -> Result:
    sim = Simulator()
    chunk = bytes(payload)
    ack = b"\x00\x00\x00\x01"
    packets = -(-total // payload)
    state = {"sent": 0, "acks": 0}

    def send_next() -> None:
        if state["sent"] < packets:
            state["sent"] += 1
            data_link.send(chunk)

    def at_sender(_data: bytes) -> None:
        state["acks"] += 1
        send_next()

    def at_receiver(_data: bytes) -> None:
        ack_link.send(ack)

    data_link, ack_link = duplex(sim, config, at_sender, at_receiver)
    started = time.perf_counter()
    for _ in range(min(window, packets)):
        send_next()
    events = sim.run()
    real = time.perf_counter() - started
    return Result(sim.now, real, events, data_link.stats.bytes_delivered, state["acks"])


def bare_heap(events: int) -> float:
    """Seconds for ``events`` heappush/heappop pairs calling a no-op."""
    heap: list[list[Any]] = []
    seq = itertools.count()

    def noop(_arg: object) -> None:
        pass

    started = time.perf_counter()
    for i in range(64):
        heapq.heappush(heap, [i * 1e-6, next(seq), noop, None])
    for _ in range(events):
        entry = heapq.heappop(heap)
        entry[2](entry[3])
        heapq.heappush(heap, [entry[0] + 1e-5, next(seq), noop, None])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=GIB, help="bytes to carry (default 1 GiB)")
    parser.add_argument("--payload", type=int, default=1448)
    parser.add_argument("--rate", type=float, default=1e9, help="link rate in bit/s")
    parser.add_argument("--delay", type=float, default=0.0005, help="one-way delay in seconds")
    parser.add_argument("--window", type=int, default=256, help="packets in flight")
    parser.add_argument("--jitter", type=float, default=0.0, help="seconds of jitter")
    parser.add_argument("--reorder", type=float, default=0.0, help="reorder probability")
    parser.add_argument("--corrupt", type=float, default=0.0, help="corruption probability")
    args = parser.parse_args()

    config = LinkConfig(
        rate_bps=args.rate,
        delay=args.delay,
        jitter=args.jitter,
        reorder=args.reorder,
        reorder_delay=0.0001,
        corrupt=args.corrupt,
    )
    print(f"config         {config}")
    r = transfer(args.bytes, args.payload, config, args.window)
    base = bare_heap(r.events)
    ideal = args.bytes * 8 / args.rate + 2 * args.delay
    print(f"carried        {r.bytes_delivered} bytes in {r.acks} packets (+{r.acks} acks)")
    print(f"simulated      {r.sim_seconds:.3f} s (wire-limited ideal {ideal:.3f} s)")
    print(f"real           {r.real_seconds:.2f} s")
    print(f"throughput     {r.bytes_delivered / r.real_seconds / 1e6:.1f} MB simulated per real s")
    print(f"speed          {r.sim_seconds / r.real_seconds:.2f}x real time")
    print(f"events         {r.events} ({r.events / r.real_seconds / 1e6:.2f} M events/s)")
    print(
        f"baseline       bare heapq loop {r.events / base / 1e6:.2f} M events/s; "
        f"simulator costs {r.real_seconds / base:.2f}x the bare loop"
    )
    if args.bytes == GIB:
        print(
            f"budget         {ONE_MINUTE - r.real_seconds:.1f} s under one minute "
            f"({r.real_seconds / ONE_MINUTE:.0%} of it)"
        )
    else:
        projected = r.real_seconds * GIB / args.bytes
        print(
            f"projected      {projected:.1f} s for 1 GiB ({projected / ONE_MINUTE:.0%} of a minute)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
