"""gdb reading 1 MiB of memory through `netgdb-proxy` + `netgdb-target`, against gdb <-> stub.

Both paths serve the same image with the same stub code (debugnet.netgdb.stub);
the baseline speaks the GDB remote protocol to gdb straight over TCP, the
netgdb path goes gdb -> TCP -> proxy -> debugnet/UDP -> target and back, as a
developer debugging a panicked kernel would. gdb runs ``dump binary memory``
of the whole MiB; each request is one round trip (its reply spans several
MTU-sized messages on the netgdb path). Runs interleave, repetition by
repetition, since only same-run ratios mean anything on a shared machine.
Processes bind 127.x addresses picked per run, never 127.0.0.1.

    python bench/netgdb.py [--reps 3] [--mib 1]
"""

from __future__ import annotations

import argparse
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.5
PY = [sys.executable, "-m", "debugnet"]


def free_ip(ports: tuple[int, ...] = (20025, 20026)) -> str:
    for _ in range(200):
        ip = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
        socks = []
        try:
            for port in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((ip, port))
            return ip
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free loopback address")


def serve_direct(image: str, ip: str, port: int) -> None:
    """The baseline: the same stub on a TCP socket, one gdb, then exit."""
    from debugnet.netgdb.image import MemoryImage
    from debugnet.netgdb.stub import GdbStub

    stub = GdbStub(MemoryImage.open(image))
    with socket.create_server((ip, port)) as ls:
        print("ready", flush=True)
        conn, _ = ls.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        conn.sendall(b"".join(stub.take_output()))
        while data := conn.recv(65536):
            stub.receive(data, time.monotonic())
            out = stub.take_output()
            if out:
                conn.sendall(b"".join(out))
    print(f"{stub.stats.packets} packets from gdb", flush=True)


def run_gdb(address: str, start: int, size: int, out: Path) -> float:
    """Seconds gdb spends in the dump alone (timed inside gdb, not its start-up)."""
    cmds = [
        "set remotetimeout 30",
        f"target remote {address}",
        "python import time; t0 = time.perf_counter()",
        f"dump binary memory {out} {start:#x} {start + size:#x}",
        'python print("dump-seconds", time.perf_counter() - t0)',
        "detach",
    ]
    args = ["gdb", "-nx", "-batch", *(a for c in cmds for a in ("-ex", c))]
    done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    for line in done.stdout.splitlines():
        if line.startswith("dump-seconds"):
            return float(line.split()[1])
    raise RuntimeError(f"gdb printed no time:\n{done.stdout}{done.stderr}")


def packets(line: str) -> int:
    words = line.split()
    return int(words[words.index("packets") - 1])


def one_direct(image: str, start: int, size: int, out: Path) -> tuple[float, int]:
    ip = free_ip()
    port = random.randint(30000, 60000)
    srv = subprocess.Popen(
        [sys.executable, __file__, "--serve-direct", image, ip, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert srv.stdout is not None
    srv.stdout.readline()
    seconds = run_gdb(f"{ip}:{port}", start, size, out)
    tail = srv.communicate(timeout=60)[0]
    return seconds, packets(tail)


def one_netgdb(image: str, start: int, size: int, out: Path) -> tuple[float, int]:
    pip = free_ip()
    tip = free_ip()
    gport = random.randint(30000, 60000)
    proxy = subprocess.Popen(
        [*PY, "netgdb-proxy", "--bind", pip, "--gdb-bind", pip, "--gdb-port", str(gport),
         "--log-level", "warning"],
    )  # fmt: skip
    try:
        time.sleep(0.5)  # the proxy binds before the target heralds (its herald is retried)
        target = subprocess.Popen(
            [*PY, "netgdb-target", "-s", pip, "-c", tip, "--image", image, "--log-level",
             "warning"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(0.5)
        seconds = run_gdb(f"{pip}:{gport}", start, size, out)
        tail = target.communicate(timeout=60)[0]
    finally:
        proxy.terminate()
        proxy.wait(10)
    return seconds, packets(tail)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-direct":
        serve_direct(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mib", type=int, default=1)
    args = ap.parse_args()
    size = args.mib << 20
    base = 0xFFFFFFFF80200000
    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "mem.bin"
        data = random.Random(1).randbytes(size)
        img.write_bytes(data)
        spec = f"{img}@{base:#x}"
        results: dict[str, list[tuple[float, int]]] = {"direct": [], "netgdb": []}
        for _ in range(args.reps):
            for name, fn in (("direct", one_direct), ("netgdb", one_netgdb)):
                out = Path(tmp) / f"{name}.bin"
                results[name].append(fn(spec, base, size, out))
                if out.read_bytes() != data:
                    print(f"{name}: the dump differs from the image", file=sys.stderr)
                    return 1
    best = {k: min(v) for k, v in results.items()}
    print(f"gdb reading {args.mib} MiB with dump binary memory, best of {args.reps}:")
    for name, (secs, n) in best.items():
        print(
            f"  {name:7s} {secs:6.2f} s  {size / secs / 1e6:6.2f} MB/s  "
            f"{n} round trips, {n / secs:7.0f} round trips/s"
        )
    ratio = best["direct"][0] / best["netgdb"][0]
    verdict = "meets" if ratio >= TARGET_RATIO else "below"
    print(f"  netgdb/direct rate: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
