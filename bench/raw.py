"""The raw path against the UDP-socket path and the C blaster, over one veth pair (root).

    sudo python bench/raw.py                  # 100 MB, medians of 3
    sudo python bench/raw.py --mb 300 --rounds 5

A client namespace and a server namespace joined by one veth pair
(198.51.100.2 and .1); ``debugnet serve`` receives in the server namespace
into /dev/shm. In the same run, interleaved round by round because the
machine's speed drifts, window mode (256 in flight):

- ``debugnet send --raw``: our own Ethernet/ARP/IPv4/UDP on a packet socket;
- ``debugnet send``: the UDP-socket path (with UDP GSO);
- the C blaster from ../shared/floor (built with gcc), window 256.

MB/s as each client reports it (dump bytes over its send time), and the
client's CPU time (user + system) per data packet, which the box's other load
disturbs far less than MB/s. Target: raw >= 0.8 x the UDP-socket path.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR_SRC = ROOT.parent / "shared" / "floor"
DEBUGNET = [sys.executable, "-m", "debugnet"]
CLIENT_IP = "198.51.100.2"
SERVER_IP = "198.51.100.1"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def namespaces() -> Iterator[tuple[str, str, str]]:
    tag = f"{os.getpid() % 100000:05d}"
    cns, sns, cif, sif = f"dnbc{tag}", f"dnbs{tag}", f"dnbc{tag}", f"dnbs{tag}"
    made: list[str] = []
    try:
        for ns in (cns, sns):
            ip("netns", "add", ns)
            made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", cif, "netns", cns, "type", "veth", "peer", "name", sif, "netns", sns)
        ip("-n", cns, "addr", "add", f"{CLIENT_IP}/24", "dev", cif)
        ip("-n", sns, "addr", "add", f"{SERVER_IP}/24", "dev", sif)
        ip("-n", cns, "link", "set", cif, "up")
        ip("-n", sns, "link", "set", sif, "up")
        yield cns, sns, cif
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def start_serve(ns: str, dumpdir: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = ["ip", "netns", "exec", ns, *DEBUGNET, "serve", "--bind", SERVER_IP]
    cmd += ["--dir", str(dumpdir), "--no-resolve", "--log-level", "warning"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if b"listening" in log.read_bytes():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"debugnet serve did not start: {log.read_bytes()!r}")


def clear(dumpdir: Path) -> None:
    for f in dumpdir.rglob("*"):
        if f.is_file() or f.is_symlink():
            f.unlink()


def ours(ns: str, cif: str, image: Path, dumpdir: Path, raw: bool) -> float:
    args = ["send", "-s", SERVER_IP, "-c", CLIENT_IP, "--window", "256", str(image)]
    if raw:
        args[1:1] = ["--raw", "-i", cif]
    out = subprocess.run(
        ["ip", "netns", "exec", ns, *DEBUGNET, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    clear(dumpdir)
    return float(out.split(" MB/s")[0].rsplit(" ", 1)[1])


def blaster(ns: str, binary: Path, nbytes: int, dumpdir: Path) -> float:
    args = [str(binary), "--server", SERVER_IP, "--bind", CLIENT_IP, "--mode", "window"]
    args += ["--window", "256", "--bytes", str(nbytes)]
    out = subprocess.run(
        ["ip", "netns", "exec", ns, *args], capture_output=True, text=True, check=True, timeout=600
    ).stdout
    clear(dumpdir)
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    return float(fields["MBps"])


def build_blaster(out: Path) -> Path | None:
    gcc = shutil.which("gcc")
    if gcc is None or not (FLOOR_SRC / "blaster.c").exists():
        print("C blaster row skipped: gcc or ../shared/floor missing")
        return None
    binary = out / "blaster"
    subprocess.run([gcc, "-O2", "-o", str(binary), str(FLOOR_SRC / "blaster.c")], check=True)
    return binary


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def medians(
    runs: dict[str, Callable[[], float]], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """MB/s of every run, and the CPU seconds each client process used."""
    got: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            before = children_cpu()
            got[name].append(fn())
            cpu[name].append(children_cpu() - before)
    return got, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="dump size in MB (10^6 bytes)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/raw.py needs root (namespaces, packet sockets)")
    base = Path(tempfile.mkdtemp(prefix="bench-raw-", dir="/dev/shm"))
    try:
        image = base / "image"
        image.write_bytes(random.Random(7).randbytes(args.mb * 1_000_000))
        binary = build_blaster(base)
        with namespaces() as (cns, sns, cif):
            dumpdir = base / "crash"
            proc = start_serve(sns, dumpdir, base / "serve.log")
            try:
                runs: dict[str, Callable[[], float]] = {
                    "raw": lambda: ours(cns, cif, image, dumpdir, raw=True),
                    "udp": lambda: ours(cns, cif, image, dumpdir, raw=False),
                }
                if binary is not None:
                    runs["c"] = lambda: blaster(cns, binary, args.mb * 1_000_000, dumpdir)
                got, cpu = medians(runs, args.rounds)
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = {name: statistics.median(v) for name, v in got.items()}
    print(f"\n## Raw path over one veth pair, {args.mb} MB, window 256, medians of {args.rounds}\n")
    packets = args.mb * 1_000_000 / 1448
    print("| client | MB/s | runs | vs UDP-socket path | client CPU µs/packet |")
    print("|---|---|---|---|---|")
    names = {"raw": "debugnet send --raw", "udp": "debugnet send (UDP socket)", "c": "C blaster"}
    for key, label in names.items():
        if key in med:
            runs_text = " ".join(f"{v:.1f}" for v in got[key])
            us = statistics.median(cpu[key]) / packets * 1e6
            ratio = med[key] / med["udp"]
            print(f"| {label} | {med[key]:.1f} | {runs_text} | {ratio:.2f} | {us:.1f} |")
    verdict = "met" if med["raw"] >= 0.8 * med["udp"] else "NOT met"
    print(f"\nraw / UDP = {med['raw'] / med['udp']:.2f} (target >= 0.8: {verdict})")


if __name__ == "__main__":
    main()
