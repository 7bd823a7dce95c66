"""The C client (``blaster`` from ../shared/floor) against ``debugnet serve``, both modes.

An independent client: it builds its own packets, KDH and data pattern, and
checks the file our server wrote byte for byte with ``blaster --verify``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.floorutil import build_floor
from tests.netutil import free_loopback
from tests.procs import stop_process
from tests.test_send_e2e import Serve, start_serve

SIZE = 3_000_000  # about 2,070 data packets at MTU 1500


@pytest.fixture(scope="module")
def blaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_floor("blaster", tmp_path_factory.mktemp("blaster"))


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    running = start_serve(tmp_path_factory.mktemp("blasted"))
    yield running
    stop_process(running.proc)


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


@pytest.mark.parametrize("mode", [["seed"], ["window", "--window", "64"]], ids=["seed", "window"])
def test_c_blaster_dump_lands_byte_exact(blaster: Path, serve: Serve, mode: list[str]) -> None:
    client = free_loopback((20024,))
    out = run(
        [
            str(blaster),
            "--server",
            serve.ip,
            "--bind",
            client,
            "--bytes",
            str(SIZE),
            "--mode",
            *mode,
        ]
    )
    assert f"bytes={SIZE}" in out, out
    core = serve.dumpdir / f"vmcore.{client}.0"
    info = (serve.dumpdir / f"info.{client}.0").read_text()
    assert info.endswith("Dump complete\n")  # the blaster's KDH is blank: no length to check
    verdict = subprocess.run(
        [str(blaster), "--verify", str(core), "--bytes", str(SIZE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verdict.returncode == 0 and ": OK " in verdict.stdout, verdict
    assert core.stat().st_size == SIZE
