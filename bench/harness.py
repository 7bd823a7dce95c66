"""What the benchmarks share: loopback addresses, child processes, the C floor, our server.

Every address comes from a /24 of 127/8 picked at random per run (not
127.0.0.1), so the fixed ports 20023/20024 never meet another run's sockets.
Children are started and stopped by PID; their stdout is read line by line.
"""

from __future__ import annotations

import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVE_READY = "debugnet serve: listening on udp "
FLOOR_READY = "listening "


class Addresses:
    """Hands out fresh loopback addresses on a /24 of 127/8 unique to this run.

    Every client gets an address of its own, so each dump is `vmcore.<addr>.0`
    and no herald ever meets a lingering session of an earlier run.
    """

    def __init__(self) -> None:
        rng = random.SystemRandom()
        self.prefix = f"127.{rng.randrange(64, 250)}.{rng.randrange(1, 255)}"
        self._next = 1

    def take(self) -> str:
        if self._next > 254:
            raise RuntimeError(f"out of addresses in {self.prefix}.0/24")
        self._next += 1
        return f"{self.prefix}.{self._next - 1}"


class Process:
    """A child started by PID with its stdout read line by line in the background."""

    def __init__(self, argv: Sequence[str], log: Path) -> None:
        self.argv = list(argv)
        self._log = log.open("wb")
        self.popen = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log = log
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break
                continue
            if line.startswith(prefix):
                return line
        self.stop()
        raise RuntimeError(
            f"{self.argv[0]} did not say {prefix!r}; stderr:\n{self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


@dataclass(frozen=True, slots=True)
class Tools:
    floor_server: Path
    blaster: Path


def build_tools(floor_dir: Path, out: Path) -> Tools:
    """The C floor server and blaster, built with gcc -O2 into ``out``."""
    tools = Tools(out / "floor_server", out / "blaster")
    for exe in (tools.floor_server, tools.blaster):
        source = floor_dir / f"{exe.name}.c"
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(source)], check=True)
    return tools


@contextmanager
def floor_server(
    tools: Tools,
    addr: str,
    directory: Path,
    log: Path,
    *,
    extra: Sequence[str] = (),
    prefix: Sequence[str] = (),
) -> Iterator[Process]:
    """The C floor server on ``addr``, writing into ``directory``; ``prefix`` wraps
    the command (``taskset -c 0``)."""
    argv = [*prefix, str(tools.floor_server), "-d", str(directory), "-a", addr, *extra]
    proc = Process(argv, log)
    try:
        proc.wait_for(FLOOR_READY, 5.0)
        yield proc
    finally:
        proc.stop()


@contextmanager
def our_server(
    addr: str,
    directory: Path,
    log: Path,
    *,
    prefix: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> Iterator[Process]:
    """``debugnet serve`` on ``addr`` without name lookups, logging warnings only;
    ``extra`` arguments last (``--no-catalogue``)."""
    argv = [sys.executable, "-m", "debugnet", "serve", "--bind", addr, "--dir", str(directory)]
    # Every client of a run is on one /24 (Addresses): lift the per-net session limit
    # (32 by default) so the idle-session figure counts all of them.
    limits = ["--max-sessions-per-net", "256"]
    proc = Process([*prefix, *argv, "--no-resolve", "--log-level", "warning", *limits, *extra], log)
    try:
        proc.wait_for(SERVE_READY, 15.0)
        yield proc
    finally:
        proc.stop()
