#!/usr/bin/env python3
"""Frames per second through the interface layer and its drivers.

1. In memory: transmit -> in-memory wire (sim link) -> input ring -> debugnet
   poll -> input queue -> dequeue, in virtual time.
2. Packet socket over a veth pair whose other end sits in a throwaway network
   namespace (root only): ``Ifnet.transmit`` through the AF_PACKET driver,
   against a plain ``socket.send`` loop on the same veth in the same run.

Usage: python bench/ifnet.py [--frames N] [--size BYTES] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from debugnet.devices import packet
from debugnet.devices.memwire import wire_pair
from debugnet.ifnet import DebugnetEvent, IfTable, debugnet_event, debugnet_poll
from debugnet.sim import Simulator

DST = bytes.fromhex("020000000002")
SRC = bytes.fromhex("020000000001")


def make_frame(size: int, dst: bytes = DST, src: bytes = SRC) -> bytes:
    return dst + src + b"\x88\xb5" + bytes(size - 14)


def bench_memwire(frames: int, size: int) -> float:
    sim = Simulator()
    table = IfTable()
    a, b, _ = wire_pair(sim, table)
    table.drain_link_states()
    debugnet_event(b, DebugnetEvent.START)
    frame = make_frame(size)
    batch = 128
    received = 0
    start = time.perf_counter()
    for _ in range(frames // batch):
        for _ in range(batch):
            a.transmit(frame)
        sim.run()
        debugnet_poll(b, batch)
        while b.dequeue_input() is not None:
            received += 1
    elapsed = time.perf_counter() - start
    assert received == frames // batch * batch, received
    return received / elapsed


def ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


@contextmanager
def veth_in_namespace() -> Iterator[str]:
    tag = f"{os.getpid() % 1000:03d}{random.randrange(10000):04d}"
    ns, ours, peer = f"dnb{tag}", f"dnbq{tag}", f"dnbp{tag}"
    ip("netns", "add", ns)
    try:
        ip("link", "add", ours, "type", "veth", "peer", "name", peer)
        with open(f"/proc/sys/net/ipv6/conf/{ours}/disable_ipv6", "w") as f:
            f.write("1")
        ip("link", "set", peer, "netns", ns)
        ip("-n", ns, "link", "set", peer, "up")
        ip("link", "set", ours, "up")
        yield ours
    finally:
        ip("link", "del", ours, check=False)
        ip("netns", "del", ns, check=False)


def timed(send: Callable[[bytes], object], frame: bytes, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        send(frame)
    return frames / (time.perf_counter() - start)


def bench_packet(ifname: str, frames: int, size: int, rounds: int) -> tuple[float, float, float]:
    """Best plain and driver rates, and the median of the per-round ratios.

    Plain and driver runs alternate in short rounds (and swap order each
    round) so that load from other processes hits both alike; the median
    ratio is the figure to judge.
    """
    plain = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(packet.ETH_P_ALL))
    plain.bind((ifname, packet.ETH_P_ALL))
    table = IfTable()
    ifp = packet.attach_packet(table, ifname)
    frame = make_frame(size, src=ifp.lladdr)
    plain_rates: list[float] = []
    driver_rates: list[float] = []
    try:
        for r in range(rounds):
            if r % 2:
                driver_rates.append(timed(ifp.transmit, frame, frames))
                plain_rates.append(timed(plain.send, frame, frames))
            else:
                plain_rates.append(timed(plain.send, frame, frames))
                driver_rates.append(timed(ifp.transmit, frame, frames))
        assert ifp.stats.opackets == rounds * frames and ifp.stats.oerrors == 0
    finally:
        packet.close(ifp)
        plain.close()
    ratios = sorted(d / p for d, p in zip(driver_rates, plain_rates, strict=True))
    return max(plain_rates), max(driver_rates), ratios[len(ratios) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000, help="frames per round")
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    mem = max(bench_memwire(args.frames, args.size) for _ in range(3))
    print(f"in-memory wire  transmit->wire->poll->input  {mem:12,.0f} frames/s  ({args.size} B)")
    if os.geteuid() != 0:
        print("packet socket: skipped (needs root for a namespace and AF_PACKET)")
        return 0
    with veth_in_namespace() as ifname:
        for size in sorted({args.size, 1514}):
            plain, driver, ratio = bench_packet(ifname, args.frames, size, args.rounds)
            print(f"veth plain socket.send loop               {plain:12,.0f} frames/s  ({size} B)")
            print(f"veth Ifnet.transmit via AF_PACKET driver  {driver:12,.0f} frames/s  ({size} B)")
            verdict = "ok" if ratio >= 0.7 else "BELOW TARGET"
            print(
                f"  driver / plain: best {driver / plain:.2f}, median of rounds {ratio:.2f}"
                f"  (target >= 0.70: {verdict})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
