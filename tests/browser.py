"""Driving Debian's chromium with Playwright (never `playwright install`: no browser download).

Screenshots go to a directory kept after the run (printed, and named by
$DEBUGNET_ARTIFACTS when set) so a person can look at what the test saw.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium; CI installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) absent")


def artifacts_dir(name: str) -> Path:
    base = os.environ.get("DEBUGNET_ARTIFACTS")
    root = Path(base) if base else Path(tempfile.gettempdir()) / "debugnet-artifacts"
    path = root / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {path}", file=sys.stderr)
    return path


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def free_tcp_port(ip: str) -> int:
    """A TCP port free on ``ip`` (a per-test 127.x.y.z, so nobody else races for it)."""
    with socket.socket() as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def free_udp_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def start_cli(args: list[str], ready: str, timeout: float = 60.0) -> subprocess.Popen[str]:
    """Run ``debugnet ARGS``, wait for an output line containing ``ready``; the rest of its
    output is drained on a thread (and kept in ``proc.output``) so it never blocks."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugnet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if ready in line:
            proc.output = seen  # type: ignore[attr-defined]
            threading.Thread(target=_drain, args=(proc.stdout, seen), daemon=True).start()
            return proc
    proc.kill()
    proc.wait()
    raise AssertionError(f"debugnet {args[0]} did not start:\n{''.join(seen)}")


def _drain(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
