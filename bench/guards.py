"""The guards' costs and gains: FINISHED ack latency after a big dump, idle memory after bursts.

1. FINISHED ack latency: one client sends a dump (default 1 GiB, 64 KiB
   datagrams, 32 in flight) to ``debugnet serve`` writing to a directory on a
   real disk (not tmpfs, whose fsync is free), with write-behind and with
   ``--no-write-behind``, interleaved; prints the time from FINISHED sent to
   its ack and the throughput of each, and their ratios.
2. Idle memory: N sessions (default 1000) each receive a burst of 64 large
   datagrams and go quiet; prints the server's resident memory once it has
   settled (target: at most 512 MiB for 1000), and per session.

Run as root or not; uses 127/8 addresses only. Figures are noisy on a shared
machine: compare the two runs of one invocation, not numbers across runs.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import harness
from debugnet.wire.message import Message, MsgType
from harness import Process

HERALD_PORT, CLIENT_PORT = 20023, 20024
PAYLOAD = 65507 - 24
ACK = struct.Struct("!I")


@contextmanager
def serve(addr: str, directory: Path, log: Path, *extra: str) -> Iterator[Process]:
    argv = [sys.executable, "-m", "debugnet", "serve", "--bind", addr, "--dir", str(directory)]
    proc = Process([*argv, "--no-resolve", "--log-level", "warning", *extra], log)
    try:
        proc.wait_for(harness.SERVE_READY, 15.0)
        yield proc
    finally:
        proc.stop()


def _herald(sock: socket.socket, server: str) -> tuple[str, int]:
    for _ in range(100):
        sock.sendto(Message.build(MsgType.HERALD, 1).emit(), (server, HERALD_PORT))
        if select.select([sock], [], [], 0.2)[0]:
            _ack, peer = sock.recvfrom(64)
            return peer
    raise RuntimeError("herald never acknowledged")


def send_dump(server: str, client: str, size: int, window: int = 32) -> tuple[float, float]:
    """Send ``size`` bytes; (seconds of data, seconds from FINISHED to its ack)."""
    block = os.urandom(PAYLOAD)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((client, CLIENT_PORT))
        peer = _herald(sock, server)
        seq, unacked = 2, {}
        start = time.monotonic()
        offset = 0
        while offset < size or unacked:
            while offset < size and len(unacked) < window:
                n = min(PAYLOAD, size - offset)
                pkt = Message.build(MsgType.DATA, seq, block[:n], offset=offset).emit()
                sock.sendto(pkt, peer)
                unacked[seq] = (pkt, time.monotonic())
                seq, offset = seq + 1, offset + n
            if select.select([sock], [], [], 0.05)[0]:
                data = sock.recv(64)
                unacked.pop(ACK.unpack_from(data)[0], None)
            now = time.monotonic()
            for s, (pkt, sent) in list(unacked.items()):
                if now - sent > 0.2:
                    sock.sendto(pkt, peer)
                    unacked[s] = (pkt, now)
        data_seconds = time.monotonic() - start
        fin = Message.build(MsgType.FINISHED, seq).emit()
        t0 = time.monotonic()
        sock.sendto(fin, peer)
        while True:
            if select.select([sock], [], [], 1.0)[0]:
                if ACK.unpack_from(sock.recv(64))[0] == seq:
                    return data_seconds, time.monotonic() - t0
            else:
                sock.sendto(fin, peer)


def finish_latency(addrs: harness.Addresses, size: int, reps: int, work: Path) -> None:
    disk = Path(tempfile.mkdtemp(prefix="guards-bench-", dir=Path.cwd()))
    results: dict[str, list[tuple[float, float]]] = {"write-behind": [], "no write-behind": []}
    try:
        for _ in range(reps):
            for name, extra in (("write-behind", ()), ("no write-behind", ("--no-write-behind",))):
                addr = addrs.take()
                with serve(addr, disk, work / "serve.log", *extra):
                    results[name].append(send_dump(addr, addrs.take(), size))
                for f in disk.iterdir():
                    f.unlink()
    finally:
        for f in disk.iterdir():
            f.unlink()
        disk.rmdir()
    print(f"FINISHED ack latency after a {size >> 20} MiB dump on {disk.parent} ({reps} reps):")
    med: dict[str, tuple[float, float]] = {}
    for name, runs in results.items():
        mbps = statistics.median(size / d / 1e6 for d, _ in runs)
        lat = statistics.median(f for _, f in runs)
        med[name] = (mbps, lat)
        print(f"  {name:16s} {mbps:8.1f} MB/s   FINISHED acked in {lat:.3f} s")
    on, off = med["write-behind"], med["no write-behind"]
    print(f"  throughput ratio (write-behind / none): {on[0] / off[0]:.3f}")


def idle_memory(addrs: harness.Addresses, sessions: int, work: Path) -> None:
    prefix = f"127.{random.randrange(64, 250)}"
    clients = [f"{prefix}.{i // 250}.{i % 250 + 1}" for i in range(sessions)]
    addr = addrs.take()
    directory = Path(tempfile.mkdtemp(prefix="guards-idle-"))
    n = str(sessions)
    limits = ("--max-sessions", n, "--max-sessions-per-net", n)
    socks: list[socket.socket] = []
    try:
        with serve(addr, directory, work / "idle.log", *limits) as proc:
            junk = Message.build(99, 7, b"j" * 60000).emit()  # dropped: no files, slots touched
            for client in clients:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((client, CLIENT_PORT))
                socks.append(s)
                peer = _herald(s, addr)
                for _ in range(64):
                    s.sendto(junk, peer)
            peak = _status(proc.pid, "VmHWM")
            time.sleep(5.0)  # quiet: every session gives its slots back within a few seconds
            rss = _status(proc.pid, "VmRSS")
    finally:
        for s in socks:
            s.close()
        for f in directory.iterdir():
            f.unlink()
        directory.rmdir()
    print(f"{sessions} idle sessions after a burst of 64 x 60 KB each:")
    print(f"  resident {rss / 1024:.0f} MiB ({rss / sessions:.0f} KiB per session;"
          f" target <= 512 MiB for 1000), peak {peak / 1024:.0f} MiB")  # fmt: skip


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1G", help="dump size for the FINISHED latency (1G)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--only", choices=["finish", "idle"])
    args = p.parse_args()
    from debugnet.storage.limits import parse_size

    addrs = harness.Addresses()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "finish"):
            finish_latency(addrs, parse_size(args.size), args.reps, work)
        if args.only in (None, "idle"):
            idle_memory(addrs, args.sessions, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
