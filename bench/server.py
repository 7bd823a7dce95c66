"""Race `debugnet serve` against the C floor with the same C client, in the same run.

The floor (../shared/floor) is netdumpd's hot path in C; `blaster` sends like the
FreeBSD kernel (`--mode seed`) or with a fixed window of packets in flight. Both
servers get the same client, the same tmpfs dump directory layout and the same
loopback path, interleaved repetition by repetition, because the machines here
drift by tens of percent over minutes and only same-run ratios mean anything.

Everything runs on a /24 inside 127.0.0.0/8 picked at random per run (not
127.0.0.1), so the fixed ports 20023/20024 never meet another test's sockets.
Server CPU is read from /proc/<pid>/stat for both servers alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import harness
from debugnet.wire.message import Message, MsgType
from harness import Addresses, Process, Tools, build_tools

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "server-bench.md"
MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
HERALD_PORT = 20023
CLIENT_PORT = 20024

TARGET_SEED = 0.95
TARGET_WINDOW = 0.75
TARGET_IDLE_MIB = 1.0


@dataclass(frozen=True, slots=True)
class Plan:
    reps: int
    seed_bytes: str
    window: int
    window_bytes: str
    window_seconds: float
    clients: int
    client_bytes: str
    client_seconds: float
    idle_sessions: int
    crowd_delay: str = "sleep"


FULL = Plan(5, "256M", 64, "1G", 5.0, 16, "256M", 6.0, 100)
QUICK = Plan(1, "128M", 64, "1G", 3.0, 16, "128M", 4.0, 100)


@dataclass(frozen=True, slots=True)
class Cpu:
    """Seconds of user and system CPU, for all threads of a process."""

    user: float
    system: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user - other.user, self.system - other.system)

    @property
    def total(self) -> float:
        return self.user + self.system


NO_CPU = Cpu(0.0, 0.0)


def per_packet(cpu: Cpu, packets: int) -> tuple[float, float]:
    """Total and system CPU per packet, in microseconds."""
    return cpu.total / max(packets, 1) * 1e6, cpu.system / max(packets, 1) * 1e6


@dataclass(frozen=True, slots=True)
class Blast:
    """One blaster result line, with the server CPU spent while it ran."""

    data_bytes: int
    seconds: float
    mbps: float
    pps: float
    packets: int
    retransmits: int
    server_cpu: Cpu

    @property
    def us_per_packet(self) -> tuple[float, float]:
        return per_packet(self.server_cpu, self.packets)


@dataclass(frozen=True, slots=True)
class Crowd:
    """Concurrent clients against one server."""

    aggregate_mbps: float
    clients: tuple[Blast, ...]
    server_cpu: Cpu

    @property
    def per_client(self) -> tuple[float, ...]:
        return tuple(b.mbps for b in self.clients)

    @property
    def packets(self) -> int:
        return sum(b.packets for b in self.clients)

    @property
    def pps(self) -> float:
        return sum(b.pps for b in self.clients)

    @property
    def us_per_packet(self) -> tuple[float, float]:
        return per_packet(self.server_cpu, self.packets)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_client)

    @property
    def starved(self) -> int:
        return sum(1 for r in self.per_client if r < self.mean / 2)


@dataclass(frozen=True, slots=True)
class Idle:
    sessions: int
    rss_before_kib: int
    rss_after_kib: int
    threads_after: int
    cpu_pct: float

    @property
    def mib_per_session(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.sessions / 1024


# -- plumbing ---------------------------------------------------------------


def cpu_times(pid: int) -> Cpu:
    """utime and stime of every thread of the process (10 ms resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return Cpu(int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)


def proc_status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def parse_fields(line: str) -> dict[str, str]:
    return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)


# CPU pinning (--pin, the default on 2+ CPUs): servers on CPU 0, clients on CPU 1, as
# when the client is another machine. Set once by main().
PIN: dict[str, list[str]] = {"server": [], "client": []}
SERVE_ARGS: list[str] = []
"""Extra `debugnet serve` arguments (--serve-arg), e.g. --no-catalogue to measure its cost."""


def pinned(role: str, argv: list[str]) -> list[str]:
    return [*PIN[role], *argv]


@contextmanager
def floor_server(tools: Tools, addr: str, directory: Path, work: Path) -> Iterator[Process]:
    log = work / "floor.stderr"
    with harness.floor_server(tools, addr, directory, log, prefix=PIN["server"]) as proc:
        yield proc


@contextmanager
def our_server(addr: str, directory: Path, work: Path) -> Iterator[Process]:
    with harness.our_server(
        addr, directory, work / "ours.stderr", prefix=PIN["server"], extra=SERVE_ARGS
    ) as proc:
        yield proc


# -- the cases --------------------------------------------------------------


def blaster_argv(tools: Tools, server: str, client: str, extra: Sequence[str]) -> list[str]:
    return pinned("client", [str(tools.blaster), "--server", server, "--bind", client, *extra])


def parse_blast(stdout: str, server_cpu: Cpu) -> Blast:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("mode=")]
    if not lines:
        raise RuntimeError(f"blaster printed no result: {stdout!r}")
    f = parse_fields(lines[-1])
    return Blast(
        data_bytes=int(f["bytes"]),
        seconds=float(f["seconds"]),
        mbps=float(f["MBps"]),
        pps=float(f["pps"]),
        packets=int(f["data_pkts"]),
        retransmits=int(f["retransmits"]),
        server_cpu=server_cpu,
    )


def run_blaster(argv: list[str], timeout: float) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def blast(tools: Tools, server: Process, addr: str, client: str, extra: Sequence[str]) -> Blast:
    cpu0 = cpu_times(server.pid)
    out = run_blaster(blaster_argv(tools, addr, client, extra), timeout=120)
    return parse_blast(out, cpu_times(server.pid) - cpu0)


def verify(tools: Tools, path: Path, nbytes: int) -> str:
    out = run_blaster([str(tools.blaster), "--verify", str(path), "--bytes", str(nbytes)], 60)
    line = out.strip().splitlines()[-1]
    if ": OK " not in line:
        raise RuntimeError(f"received file does not match what was sent: {line}")
    return line


def crowd(tools: Tools, server: Process, addr: str, clients: list[str], plan: Plan) -> Crowd:
    # The kernel algorithm spins through its 0.5 ms polls; 16 spinning clients on a
    # 2-vCPU box would measure the scheduler, not the server, so by default they sleep.
    extra = ["--mode", "seed", "--delay", plan.crowd_delay, "--bytes", plan.client_bytes]
    extra += ["--max-seconds", str(plan.client_seconds)]
    cpu0 = cpu_times(server.pid)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            blaster_argv(tools, addr, c, extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in clients
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=plan.client_seconds + 120)
            if p.returncode != 0:
                raise RuntimeError(f"a crowd client failed: {err.strip()}")
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - started
    cpu = cpu_times(server.pid) - cpu0
    blasts = [parse_blast(o, NO_CPU) for o in outs]
    total = sum(b.data_bytes for b in blasts)
    return Crowd(aggregate_mbps=total / wall / 1e6, clients=tuple(blasts), server_cpu=cpu)


def herald() -> bytes:
    return Message.build(MsgType.HERALD, 1).emit()


def open_idle_sessions(
    server: str, clients: list[str], timeout: float = 20.0
) -> list[socket.socket]:
    """Send each client's herald until its ack arrives, then leave the session silent."""
    socks = []
    for client in clients:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((client, CLIENT_PORT))
        s.setblocking(False)
        socks.append(s)
    pending = set(socks)
    deadline = time.monotonic() + timeout
    try:
        while pending and time.monotonic() < deadline:
            for s in pending:
                s.sendto(herald(), (server, HERALD_PORT))
            ready, _, _ = select.select(list(pending), [], [], 0.5)
            for s in ready:
                s.recv(64)
                pending.discard(s)
        if pending:
            raise RuntimeError(f"{len(pending)} idle sessions were never acknowledged")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def settle_rss(pid: int, seconds: float = 3.0) -> int:
    """VmRSS once it stops moving (threads finish their set-up after the ack)."""
    last = proc_status(pid, "VmRSS")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.5)
        now = proc_status(pid, "VmRSS")
        if now == last:
            return now
        last = now
    return last


def idle_memory(addrs: Addresses, directory: Path, work: Path, plan: Plan) -> Idle:
    """RSS per idle session, on a fresh server warmed by one session (first-use imports)."""
    addr = addrs.take()
    with our_server(addr, directory, work) as server:
        warm = open_idle_sessions(addr, [addrs.take()])
        socks: list[socket.socket] = []
        try:
            before = settle_rss(server.pid)
            clients = [addrs.take() for _ in range(plan.idle_sessions)]
            socks = open_idle_sessions(addr, clients)
            after = settle_rss(server.pid)
            threads = proc_status(server.pid, "Threads")
            cpu0, t0 = cpu_times(server.pid), time.monotonic()
            time.sleep(2.0)
            cpu_pct = (cpu_times(server.pid) - cpu0).total / (time.monotonic() - t0) * 100
        finally:
            for s in warm + socks:
                s.close()
    return Idle(plan.idle_sessions, before, after, threads, cpu_pct)


# -- a run --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Side:
    """One server under test: its process, address and dump directory."""

    proc: Process
    addr: str
    directory: Path


@dataclass
class Results:
    seed: list[tuple[Blast, Blast]]
    window: list[tuple[Blast, Blast]]
    crowds: list[Crowd]
    verified: list[str]
    idle: Idle | None = None


def clear(*dirs: Path) -> None:
    """Dumps are only needed until verified; tmpfs is memory."""
    for d in dirs:
        for entry in d.iterdir():
            entry.unlink()


def pair(
    tools: Tools,
    addrs: Addresses,
    sides: tuple[Side, Side],
    extra: Sequence[str],
    check: list[str] | None,
    ours_first: bool,
) -> tuple[Blast, Blast]:
    """The same client against the floor and against ours, in alternating order."""
    out: dict[str, Blast] = {}
    order = zip(("c", "ours"), sides, strict=True)
    for name, side in reversed(list(order)) if ours_first else order:
        client = addrs.take()
        out[name] = blast(tools, side.proc, side.addr, client, extra)
        if check is not None and name == "ours":
            core = side.directory / f"vmcore.{client}.0"
            check.append(verify(tools, core, out[name].data_bytes))
        clear(side.directory)  # each run starts with the same free tmpfs, whatever the order
    return out["c"], out["ours"]


def fmt_blast(b: Blast) -> str:
    return f"{b.mbps:6.1f} MB/s {b.pps:7.0f} pkt/s {b.us_per_packet[0]:5.1f} us/pkt"


def fmt_crowd(c: Crowd) -> str:
    return (
        f"aggregate {c.aggregate_mbps:.1f} MB/s, per client {min(c.per_client):.1f}-"
        f"{max(c.per_client):.1f} (mean {c.mean:.1f}), {c.starved} below half the mean"
    )


def measure(tools: Tools, plan: Plan, shm: Path, work: Path) -> Results:
    addrs = Addresses()
    print(f"addresses: {addrs.prefix}.0/24", flush=True)
    res = Results([], [], [], [])
    seed = ["--mode", "seed", "--bytes", plan.seed_bytes]
    window = ["--mode", "window", "--window", str(plan.window), "--bytes", plan.window_bytes]
    window += ["--max-seconds", str(plan.window_seconds)]
    for d in (shm / "c", shm / "ours"):
        d.mkdir()
    c_addr, o_addr = addrs.take(), addrs.take()
    with (
        floor_server(tools, c_addr, shm / "c", work) as c_proc,
        our_server(o_addr, shm / "ours", work) as o_proc,
    ):
        sides = (Side(c_proc, c_addr, shm / "c"), Side(o_proc, o_addr, shm / "ours"))
        for rep in range(plan.reps):
            check = res.verified if rep == 0 else None
            res.seed.append(pair(tools, addrs, sides, seed, check, rep % 2 == 1))
            print(
                f"rep {rep + 1} seed:      C {fmt_blast(res.seed[-1][0])}"
                f" | ours {fmt_blast(res.seed[-1][1])}",
                flush=True,
            )
            res.window.append(pair(tools, addrs, sides, window, check, rep % 2 == 1))
            print(
                f"rep {rep + 1} window {plan.window}: C {fmt_blast(res.window[-1][0])}"
                f" | ours {fmt_blast(res.window[-1][1])}",
                flush=True,
            )
            clients = [addrs.take() for _ in range(plan.clients)]
            res.crowds.append(crowd(tools, o_proc, o_addr, clients, plan))
            if rep == 0:
                core = sides[1].directory / f"vmcore.{clients[-1]}.0"
                res.verified.append(verify(tools, core, res.crowds[-1].clients[-1].data_bytes))
            clear(sides[1].directory)
            print(f"rep {rep + 1} {plan.clients} clients: {fmt_crowd(res.crowds[-1])}", flush=True)
    res.idle = idle_memory(Addresses(), shm / "idle", work, plan)  # a /24 of its own
    return res


# -- the report ---------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "**yes**" if ok else "**NO**"


def cpu_cell(samples: list[tuple[float, float]]) -> str:
    return f"{med([t for t, _ in samples]):.1f} ({med([s for _, s in samples]):.1f} sys)"


def throughput_row(name: str, pairs: list[tuple[Blast, Blast]]) -> tuple[str, float]:
    ratio = med([o.mbps / c.mbps for c, o in pairs])
    cells = [
        name,
        f"{med([c.mbps for c, _ in pairs]):.1f}",
        f"{med([o.mbps for _, o in pairs]):.1f}",
        f"{ratio:.2f}",
        f"{med([c.pps for c, _ in pairs]):,.0f}",
        f"{med([o.pps for _, o in pairs]):,.0f}",
        cpu_cell([c.us_per_packet for c, _ in pairs]),
        cpu_cell([o.us_per_packet for _, o in pairs]),
    ]
    return "| " + " | ".join(cells) + " |", ratio


def crowd_row(name: str, crowds: list[Crowd]) -> str:
    low = min(min(c.per_client) for c in crowds)
    high = max(max(c.per_client) for c in crowds)
    cells = [
        name,
        "-",
        f"{med([c.aggregate_mbps for c in crowds]):.1f} (per client {low:.1f} to {high:.1f})",
        "-",
        "-",
        f"{med([c.pps for c in crowds]):,.0f}",
        "-",
        cpu_cell([c.us_per_packet for c in crowds]),
    ]
    return "| " + " | ".join(cells) + " |"


def ratios(pairs: list[tuple[Blast, Blast]]) -> str:
    return ", ".join(f"{o.mbps / c.mbps:.2f}" for c, o in pairs)


def header(plan: Plan, command: str, elapsed: float, load: tuple[str, str]) -> list[str]:
    return [
        "# Dump server benchmark: `debugnet serve` against the C floor",
        "",
        f"Command (from the repository root): `{command}`; sources at {revision()}.",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{os.cpu_count()} vCPUs, Linux {os.uname().release}, Python {sys.version.split()[0]}; "
        f"medians of {plan.reps} repetition(s), {elapsed:.0f} s in all; load average "
        f"{load[0]} before, {load[1]} after (other work shares these CPUs).",
        "",
        (
            "Servers pinned to CPU 0 and clients to CPU 1 (`taskset`), as when the client is "
            "another machine; `--no-pin` lets the scheduler place them."
            if PIN["server"]
            else "Not pinned: servers and clients share both CPUs as the scheduler places them."
        ),
        "",
        "Same C client (`blaster`) against both servers, interleaved run by run; dump",
        "directories on tmpfs; loopback addresses on a /24 of 127/8 picked per run; MB/s and",
        "packets/s as the client saw them (data only); server CPU from /proc/<pid>/stat",
        "(user + system, all threads; the system part in brackets) over the client's run,",
        "divided by data packets.",
        "The ratio is the median of the per-repetition ratios. The crowd's clients run",
        "the kernel algorithm, by default with `--delay sleep` (16 clients spinning through",
        "their polls on 2 vCPUs would measure the scheduler); its MB/s is total bytes over",
        "wall time, per-client min/max over all repetitions. The C floor serves one client",
        "at a time, so that row has no ratio.",
        "",
    ]


def throughput_table(res: Results, plan: Plan) -> list[str]:
    seed_row, _ = throughput_row(f"kernel algorithm (`seed`, {plan.seed_bytes})", res.seed)
    win_name = f"{plan.window} in flight (`window`, ≤{plan.window_bytes}/{plan.window_seconds:g} s)"
    win_row, _ = throughput_row(win_name, res.window)
    crowd_name = (
        f"{plan.clients} clients, `seed --delay {plan.crowd_delay}` each, "
        f"≤{plan.client_bytes}/{plan.client_seconds:g} s"
    )
    idle = res.idle
    assert idle is not None
    return [
        "| case | C floor MB/s | ours MB/s | ours/C | C pkt/s | ours pkt/s "
        "| C CPU µs/pkt | ours CPU µs/pkt |",
        "|---|---|---|---|---|---|---|---|",
        seed_row,
        win_row,
        crowd_row(crowd_name, res.crowds),
        "",
        f"Per-repetition ratios: kernel algorithm {ratios(res.seed)}; "
        f"{plan.window} in flight {ratios(res.window)}.",
        "",
        f"Idle sessions: {idle.sessions} sessions that sent a HERALD and went silent took "
        f"VmRSS from {idle.rss_before_kib / 1024:.1f} MiB to {idle.rss_after_kib / 1024:.1f} MiB "
        f"({idle.threads_after} threads); the idle server then used {idle.cpu_pct:.1f} % of a CPU.",
        "",
    ]


def targets_table(res: Results, plan: Plan) -> list[str]:
    _, seed_ratio = throughput_row("", res.seed)
    _, win_ratio = throughput_row("", res.window)
    starved = sum(c.starved for c in res.crowds)
    worst = min(min(c.per_client) / c.mean for c in res.crowds)
    assert res.idle is not None
    per_idle = res.idle.mib_per_session
    return [
        "| target | measured | met |",
        "|---|---|---|",
        f"| kernel algorithm: ours/C ≥ {TARGET_SEED} | {seed_ratio:.2f} "
        f"| {verdict(seed_ratio >= TARGET_SEED)} |",
        f"| {plan.window} in flight: ours/C ≥ {TARGET_WINDOW} | {win_ratio:.2f} "
        f"| {verdict(win_ratio >= TARGET_WINDOW)} |",
        f"| {plan.clients} clients: none below half the mean | slowest at {worst:.2f} of the mean, "
        f"{starved} below half | {verdict(starved == 0)} |",
        f"| resident memory per idle session ≤ {TARGET_IDLE_MIB:g} MiB "
        f"| {per_idle:.2f} MiB | {verdict(per_idle <= TARGET_IDLE_MIB)} |",
        "",
    ]


def verified_list(res: Results) -> list[str]:
    lines = ["Received files checked byte for byte with `blaster --verify`:", ""]
    for v in res.verified:
        path, _, outcome = v.removeprefix("verify ").partition(": ")
        lines.append(f"- `{Path(path).name}`: {outcome}")
    return [*lines, ""]


def render(res: Results, plan: Plan, command: str, elapsed: float, load: tuple[str, str]) -> str:
    return "\n".join(
        header(plan, command, elapsed, load)
        + throughput_table(res, plan)
        + targets_table(res, plan)
        + verified_list(res)
    )


SERVER_SOURCES = ("src/debugnet/server", "src/debugnet/transport", "src/debugnet/wire")


def revision() -> str:
    """The commit measured, and which of the server's sources differ from it."""
    git = ["git", "-C", str(REPO)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [*git, "status", "--porcelain", *SERVER_SOURCES],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    if not status:
        return head
    changed = ", ".join(f"`{line[3:]}`" for line in status)
    return f"{head} plus uncommitted changes to {changed}"


KEEP = "<!-- Everything below this line is kept when bench/server.py rewrites the file. -->"


def write_report(path: Path, text: str) -> None:
    """Replace the measured part; notes written by hand under KEEP survive a rerun."""
    try:
        old = path.read_text()
    except FileNotFoundError:
        old = ""
    _, marker, notes = old.partition(KEEP)
    path.write_text(text + ("\n" + marker + notes if marker else ""))


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="one repetition, smaller transfers")
    p.add_argument("--reps", type=int, help="repetitions (default 5, 1 with --quick)")
    p.add_argument(
        "--floor-dir",
        type=Path,
        default=Path(os.environ.get("DEBUGNET_FLOOR_DIR", REPO.parent / "shared" / "floor")),
        help="where floor_server.c and blaster.c are (default: $DEBUGNET_FLOOR_DIR "
        "or ../shared/floor)",
    )
    p.add_argument(
        "--crowd-delay",
        choices=["sleep", "spin"],
        default="sleep",
        help="how the concurrent clients wait between polls (default: sleep)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help=f"markdown report (default: {DOC.relative_to(REPO)}, not written with --quick)",
    )
    p.add_argument("--no-write", action="store_true", help="print the report only")
    p.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to debugnet serve (repeatable), e.g. --serve-arg=--no-catalogue",
    )
    p.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None,
        help="servers on CPU 0, clients on CPU 1, as when the client is another machine "
        "(default: on with 2+ CPUs and taskset)",
    )
    return p.parse_args(argv)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: children stopped, tmpfs freed


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin:
        PIN["server"], PIN["client"] = ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    SERVE_ARGS[:] = args.serve_arg
    signal.signal(signal.SIGTERM, _terminated)
    plan = QUICK if args.quick else FULL
    plan = dataclasses.replace(plan, reps=args.reps or plan.reps, crowd_delay=args.crowd_delay)
    command = shlex.join(["python", "bench/server.py", *(sys.argv[1:] if argv is None else argv)])
    started, load0 = time.monotonic(), loadavg()
    with tempfile.TemporaryDirectory(prefix="debugnet-bench-") as tmp:
        work = Path(tmp)
        tools = build_tools(args.floor_dir, work)
        shm = Path(tempfile.mkdtemp(prefix="debugnet-bench-", dir="/dev/shm"))
        try:
            res = measure(tools, plan, shm, work)
        finally:
            shutil.rmtree(shm, ignore_errors=True)
    text = render(res, plan, command, time.monotonic() - started, (load0, loadavg()))
    print()
    print(text)
    output = args.output or (None if args.quick else DOC)
    if output is not None and not args.no_write:
        write_report(output, text)
        print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
