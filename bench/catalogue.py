"""The catalogue at fleet scale, timed as an operator sees it: whole `debugnet dumps` commands.

    python bench/catalogue.py [--dumps 100000] [--json-dumps 20000] [--reindex 10000] [--repeat 5]

Each figure is the median wall time of ``--repeat`` runs of the command in a
fresh interpreter (start-up and imports included), against the issue's
targets: ``list --limit 50`` and ``groups`` over 100,000 dumps ≤ 0.5 s each,
``list --json`` of 20,000 ≤ 1 s, ``reindex`` of 10,000 dumps' files ≤ 10 s.
The baseline row is ``python -c pass`` in the same run: what any Python
command costs on this machine at this moment. CPU time (user + system) is
printed beside wall time: on a shared, loaded machine wall time includes
waiting for a CPU, CPU time does not.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from debugnet.catalogue import DumpRecord, DumpState, open_catalogue
from debugnet.wire.kdh import KernelDumpHeader

HOSTS = 800
SIGNATURES = 300
STATES = [DumpState.COMPLETE] * 8 + [DumpState.INCOMPLETE, DumpState.FAILED]


def synthetic(n: int, seed: int = 1) -> list[DumpRecord]:
    """``n`` records spread over a year, hosts and signatures skewed as fleets are."""
    rng = random.Random(seed)
    now = time.time()
    per_host: dict[str, int] = {}
    out = []
    for _ in range(n):
        host = f"host{int(rng.paretovariate(1.2)) % HOSTS:04d}"
        index = per_host.get(host, 0)
        per_host[host] = index + 1
        func = int(rng.paretovariate(1.1)) % SIGNATURES
        sig = f"Fatal trap NUM: page fault while in kernel mode in func_{func}"
        state = rng.choice(STATES)
        started = now - rng.uniform(0, 365 * 86400)
        out.append(
            DumpRecord(
                host=host,
                index=index,
                started=started,
                ip=f"10.{index % 250}.1.{index % 200}",
                files=[f"info.{host}.{index}", f"vmcore.{host}.{index}"],
                state=state,
                reason=None if state is DumpState.COMPLETE else "timed out",
                ended=started + 30,
                bytes=1 << 30,
                length=1 << 30,
                panic="page fault",
                architecture="amd64",
                signature=sig,
                signature_version=1,
            )
        )
    return out


def timed(argv: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of the command."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def dumps(directory: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "debugnet", "dumps", "--dir", str(directory), *args]


def catalogue_of(directory: Path, n: int) -> Path:
    directory.mkdir()
    cat = open_catalogue(directory)
    cat.replace_all(synthetic(n))
    cat.close()
    return directory


def info_files(directory: Path, n: int) -> Path:
    """``n`` netdumpd dumps (info file and a 4 KiB vmcore each) as netdumpd leaves them."""
    directory.mkdir()
    for i in range(n):
        host = f"host{i % HOSTS:04d}"
        kdh = KernelDumpHeader.build(
            architecture="amd64",
            hostname=host,
            versionstring="FreeBSD 14.0\n",
            panicstring=f"panic number {i % 50}",
            dumplength=4096,
            dumptime=1_700_000_000,
        )
        index = i // HOSTS
        head = f"Dump from {host} [10.0.{i % 250}.1]\n".encode()
        (directory / f"info.{host}.{index}").write_bytes(
            head + kdh.info_lines() + b"Dump complete\n"
        )
        (directory / f"vmcore.{host}.{index}").write_bytes(bytes(4096))
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dumps", type=int, default=100_000)
    parser.add_argument("--json-dumps", type=int, default=20_000)
    parser.add_argument("--reindex", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-catalogue-"))
    try:
        big = catalogue_of(work / "big", args.dumps)
        mid = catalogue_of(work / "mid", args.json_dumps)
        infos = info_files(work / "infos", args.reindex)
        rows = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None, args.repeat),
            (
                f"list --limit 50 ({args.dumps:,} dumps)",
                dumps(big, "list", "--limit", "50"),
                0.5,
                args.repeat,
            ),
            (f"groups ({args.dumps:,} dumps)", dumps(big, "groups"), 0.5, args.repeat),
            (
                f"list --json ({args.json_dumps:,} dumps)",
                dumps(mid, "list", "--json"),
                1.0,
                args.repeat,
            ),
            (
                f"reindex ({args.reindex:,} dumps' files)",
                dumps(infos, "reindex"),
                10.0,
                max(1, args.repeat // 2),
            ),
        ]
        print(f"{'command':<42} {'wall s':>8} {'CPU s':>8} {'target s':>9}")
        for name, argv, target, repeat in rows:
            wall, cpu = timed(argv, repeat)
            verdict = "" if target is None else ("ok" if wall <= target else "OVER")
            shown = "" if target is None else target
            print(f"{name:<42} {wall:8.3f} {cpu:8.3f} {shown:>9} {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
