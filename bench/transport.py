"""Client transport benchmark: seed vs window, in the simulator and over 127.0.0.N.

    python bench/transport.py                # everything
    python bench/transport.py --sim-only     # the deterministic simulator tables
    python bench/transport.py --loopback-mb 200 --rounds 3

1. Simulator (deterministic): goodput as a fraction of a 1 Gbit/s link for
   ``seed`` and ``window`` over RTT {0.1, 1, 10} ms x loss {0, 0.1, 1, 5} %,
   every client sending the same bytes; median and range over ``--seeds``
   loss draws per cell (one draw at 5 % loss can be off by half).
2. Simulator: a receiver that handles a datagram every 20 us behind a socket
   buffer of only 64 datagrams, against the same receiver with an unbounded
   buffer; window (HYBRID, RENO), a fixed 256-packet window and seed.
3. Loopback, real sockets: MB/s of both modes against ``debugnet serve`` and
   against the C floor server, and the C blaster against the same C server
   (built with gcc from ../shared/floor). Medians of ``--rounds`` runs,
   interleaved, because the machine's speed drifts. Against netdumpd's 128 KiB
   receive buffer: congestion control on and off, each at both retransmit-
   timeout floors (ours 10 ms, the blaster's 200 ms), so each factor shows.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.simnet import run_dump  # noqa: E402

from debugnet.sim import LinkConfig  # noqa: E402
from debugnet.transport.config import CongestionControl, Mode, TransportConfig  # noqa: E402
from harness import Addresses, Tools, build_tools, floor_server, our_server  # noqa: E402

RATE = 1e9
FLOOR_SRC = ROOT.parent / "shared" / "floor"


# -- simulator ------------------------------------------------------------------------


def sim_run(
    config: TransportConfig,
    size: int,
    rtt: float,
    loss: float = 0.0,
    seed: int = 1,
    **server: object,
) -> tuple[float, int]:
    """(goodput as a fraction of RATE, retransmissions) for one simulated dump."""
    data = random.Random(seed).randbytes(size)
    link = LinkConfig(rate_bps=RATE, delay=rtt / 2, loss=loss, queue_limit=1000)
    net = run_dump(config, link, data, seed=seed, until=3600.0, **server)
    if net.client.error is not None or net.client.finished_at is None:
        return 0.0, net.client.conn.stats.retransmissions
    assert bytes(net.server.seen.files[-1]) == data
    return size * 8 / net.client.finished_at / RATE, net.client.conn.stats.retransmissions


@dataclass(frozen=True)
class Spread:
    """Several seeded draws of one cell: its median and its range."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, fmt: str) -> str:
        lo, hi = min(self.values), max(self.values)
        if lo == hi:
            return format(lo, fmt)
        return f"{self.median:{fmt}} ({lo:{fmt}}-{hi:{fmt}})"


def sim_spread(config: TransportConfig, size: int, rtt: float, loss: float, seeds: int) -> Spread:
    """The same workload under ``seeds`` different loss draws (seeds 1..N)."""
    return Spread(tuple(sim_run(config, size, rtt, loss, seed=s)[0] for s in range(1, seeds + 1)))


def table_goodput(size: int, seeds: int) -> None:
    print(
        f"\n## Goodput, fraction of a 1 Gbit/s link ({size >> 20} MiB for every client, "
        f"median (range) of seeds 1-{seeds})\n"
    )
    print("| RTT | loss | seed | window (hybrid) | window (reno) | window/seed | hybrid/reno |")
    print("|---|---|---|---|---|---|---|")
    for rtt in (0.0001, 0.001, 0.01):
        for loss in (0.0, 0.001, 0.01, 0.05):
            kernel = sim_spread(TransportConfig(mode=Mode.SEED), size, rtt, loss, seeds)
            win = sim_spread(TransportConfig(mode=Mode.WINDOW), size, rtt, loss, seeds)
            reno = sim_spread(TransportConfig(cc=CongestionControl.RENO), size, rtt, loss, seeds)
            ratio = win.median / kernel.median if kernel.median else float("inf")
            print(
                f"| {rtt * 1e3:g} ms | {loss * 100:g} % | {kernel.show('.4f')} "
                f"| {win.show('.3f')} | {reno.show('.3f')} | {ratio:.1f}x "
                f"| {win.median / reno.median:.1f}x |"
            )


def table_small_buffer(size: int) -> None:
    service = 20e-6
    print(
        f"\n## Receiver handling one datagram per {service * 1e6:g} us "
        f"({1448 / service / 1e6:.0f} MB/s), socket buffer 64 datagrams vs unbounded\n"
    )
    print("| RTT | client | unbounded MB/s | 64-datagram buffer MB/s | kept | retransmitted |")
    print("|---|---|---|---|---|---|")
    rows: list[tuple[str, TransportConfig]] = [
        ("window (hybrid)", TransportConfig()),
        ("window (reno)", TransportConfig(cc=CongestionControl.RENO)),
        ("fixed 256 window", TransportConfig(cc=CongestionControl.FIXED, initial_window=256)),
        ("seed", TransportConfig(mode=Mode.SEED)),
    ]
    for rtt in (0.0001, 0.001):
        for name, cfg in rows:
            n = size  # every client gets the same workload
            free, _ = sim_run(cfg, n, rtt, service_time=service)
            small, rexmit = sim_run(cfg, n, rtt, service_time=service, rcvbuf=64)
            mb = RATE / 8 / 1e6
            kept = small / free if free else 0.0
            print(
                f"| {rtt * 1e3:g} ms | {name} | {free * mb:.1f} | {small * mb:.1f} | {kept:.0%} "
                f"| {rexmit / (n / 1448):.1%} |"
            )


# -- loopback -------------------------------------------------------------------------


def ours(
    ip: str, data: bytes, mode: Mode, dumpdir: Path, config: TransportConfig | None = None
) -> float:
    from debugnet.netdump.send import send_dump

    result = send_dump(ip, data, client=ip, mode=mode, config=config)
    for f in dumpdir.iterdir():
        if f.is_file() or f.is_symlink():
            f.unlink()
    return result.mbps


def blaster(binary: Path, ip: str, mode: str, nbytes: int, dumpdir: Path, *extra: str) -> float:
    args = [str(binary), "--server", ip, "--bind", ip, "--mode", mode, "--bytes", str(nbytes)]
    out = subprocess.run([*args, *extra], capture_output=True, text=True, check=True, timeout=120)
    for f in dumpdir.iterdir():
        f.unlink()
    fields = dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)
    return float(fields["MBps"])


def medians(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    got: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            got[name].append(fn())
    return {name: statistics.median(v) for name, v in got.items()}


def loopback(megabytes: int, rounds: int) -> None:
    data = random.Random(3).randbytes(megabytes * 1_000_000)
    base = Path(tempfile.mkdtemp(prefix="bench-transport-", dir="/dev/shm"))
    addrs = Addresses()
    try:
        print(f"\n## Loopback, {megabytes} MB, medians of {rounds} (MB/s)\n")
        loop_serve(data, base, rounds, addrs.take())
        loop_floor(data, base, rounds, addrs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def loop_serve(data: bytes, base: Path, rounds: int, ip: str) -> None:
    dumpdir = base / "serve"
    try:
        with our_server(ip, dumpdir, base / "s.log"):
            got = medians(
                {
                    "window": lambda: ours(ip, data, Mode.WINDOW, dumpdir),
                    "seed": lambda: ours(ip, data, Mode.SEED, dumpdir),
                },
                rounds,
            )
    except (RuntimeError, OSError) as exc:
        print(f"debugnet serve row skipped: {exc}")
        return
    print("| server | our seed | our window | window/seed |")
    print("|---|---|---|---|")
    print(
        f"| debugnet serve | {got['seed']:.1f} | {got['window']:.1f} "
        f"| {got['window'] / got['seed']:.1f}x |"
    )


def build_floor(out: Path) -> Tools | None:
    if shutil.which("gcc") is None or not (FLOOR_SRC / "floor_server.c").exists():
        print("C floor rows skipped: gcc or ../shared/floor missing")
        return None
    return build_tools(FLOOR_SRC, out)


def loop_floor(data: bytes, base: Path, rounds: int, addrs: Addresses) -> None:
    tools = build_floor(base)
    if tools is None:
        return
    blaster_bin = tools.blaster
    ip = addrs.take()
    dumpdir = base / "floor"
    dumpdir.mkdir()
    n = len(data)
    with floor_server(tools, ip, dumpdir, base / "f.log"):
        got = medians(
            {
                "window": lambda: ours(ip, data, Mode.WINDOW, dumpdir),
                "seed": lambda: ours(ip, data, Mode.SEED, dumpdir),
                "c window": lambda: blaster(
                    blaster_bin, ip, "window", n, dumpdir, "--window", "256"
                ),
                "c window nogso": lambda: blaster(
                    blaster_bin, ip, "window", n, dumpdir, "--window", "256", "--no-gso"
                ),
                "c seed": lambda: blaster(blaster_bin, ip, "seed", n, dumpdir),
            },
            rounds,
        )
    print(
        f"| C floor server | {got['seed']:.1f} | {got['window']:.1f} "
        f"| {got['window'] / got['seed']:.1f}x |"
    )
    print("\n| client vs C floor server | seed | window 256 | ours / C blaster (window) |")
    print("|---|---|---|---|")
    print(f"| our client | {got['seed']:.1f} | {got['window']:.1f} | |")
    print(
        f"| C blaster (GSO) | {got['c seed']:.1f} | {got['c window']:.1f} "
        f"| {got['window'] / got['c window']:.2f} |"
    )
    print(
        f"| C blaster (--no-gso) | | {got['c window nogso']:.1f} "
        f"| {got['window'] / got['c window nogso']:.2f} |"
    )
    loop_small_rcvbuf(tools, data, base, rounds, addrs.take())


def loop_small_rcvbuf(tools: Tools, data: bytes, base: Path, rounds: int, ip: str) -> None:
    """netdumpd's 128 KiB SO_RCVBUF: fewer than 256 datagrams fit.

    Two factors differ between our client and the C blaster: congestion
    control and the retransmit-timeout floor (ours 10 ms, the blaster's 200 ms).
    Each is switched on its own, so the table says what each contributes.
    """
    blaster_bin = tools.blaster
    dumpdir = base / "floor-small"
    dumpdir.mkdir()
    n = min(len(data), 30_000_000)
    part = data[:n]
    floors = (10, 200)
    runs: dict[str, Callable[[], float]] = {}
    for ms in floors:
        for cc in (CongestionControl.HYBRID, CongestionControl.FIXED):
            cfg = TransportConfig(
                cc=cc,
                initial_window=256 if cc is CongestionControl.FIXED else 16,
                rto_min=ms / 1000,
                rto_initial=max(0.1, ms / 1000),
            )
            runs[f"{cc.value} {ms}"] = lambda cfg=cfg: ours(ip, part, Mode.WINDOW, dumpdir, cfg)
        runs[f"c {ms}"] = lambda ms=ms: blaster(
            blaster_bin, ip, "window", n, dumpdir, "--window", "256", "--rto-min-ms", str(ms)
        )
    rcvbuf = ("--rcvbuf", "131072")
    with floor_server(tools, ip, dumpdir, base / "fs.log", extra=rcvbuf):
        got = medians(runs, rounds)
    print(
        f"\n| C floor server, SO_RCVBUF 128 KiB ({n // 1_000_000} MB), 256 in flight, MB/s "
        "| RTO floor 10 ms | RTO floor 200 ms | floor 10/200 |"
    )
    print("|---|---|---|---|")
    labels = (
        ("hybrid", "our client, congestion control (hybrid)"),
        ("fixed", "our client, fixed window"),
        ("c", "C blaster, fixed window"),
    )
    for key, label in labels:
        a, b = got[f"{key} 10"], got[f"{key} 200"]
        print(f"| {label} | {a:.1f} | {b:.1f} | {a / b:.1f}x |")
    print(
        f"| congestion control on/off (ours) | {got['hybrid 10'] / got['fixed 10']:.1f}x "
        f"| {got['hybrid 200'] / got['fixed 200']:.1f}x | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-mib", type=int, default=16, help="bytes per simulated dump")
    parser.add_argument("--seeds", type=int, default=5, help="loss draws per goodput cell")
    parser.add_argument("--loopback-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sim-only", action="store_true")
    parser.add_argument("--loopback-only", action="store_true")
    args = parser.parse_args()
    print(f"# bench/transport.py  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    if not args.loopback_only:
        t = time.monotonic()
        table_goodput(args.sim_mib << 20, args.seeds)
        table_small_buffer(args.sim_mib << 20)
        print(f"\n(simulator tables: {time.monotonic() - t:.0f} s of wall time)")
    if not args.sim_only:
        loopback(args.loopback_mb, args.rounds)


if __name__ == "__main__":
    main()
