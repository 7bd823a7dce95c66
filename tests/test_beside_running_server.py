"""The README's test command passes while a ``debugnet serve`` holds 0.0.0.0:20023.

The quick start leaves the server running; a wildcard bind holds port 20023
on every 127.x address, where the tests bind their own servers. A real
server is started here, and a subset of the suite that binds the fixed ports
runs beside it in a pytest of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBSET = [
    "tests/test_server_modes.py",
    "tests/test_server_pathlog.py",
    "tests/test_server_units.py::test_session_answers_from_the_address_the_herald_was_sent_to",
    "tests/test_send_progress.py::test_progress_on_a_terminal[None-80]",
    "tests/test_send_e2e.py::test_send_to_serve_byte_exact",
    "tests/test_send_e2e.py::test_client_port_taken_is_busy",
]
"""Tests that bind 20023 and 20024: in-process servers, `debugnet serve`, `debugnet send`."""


@pytest.mark.slow
def test_suite_subset_passes_beside_a_wildcard_server(tmp_path: Path) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-u", "-m", "debugnet", "serve", "--bind", "0.0.0.0", "--port", "20023",
         "--dir", str(tmp_path / "crash"), "--no-resolve"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        if "listening on udp 0.0.0.0:20023" not in first:
            serve.wait(10)
            assert serve.stderr is not None
            err = serve.stderr.read()
            assert "Address already in use" in err, err  # held already: the case at hand
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert serve.poll() is None, "the wildcard server must hold the port throughout"
    finally:
        serve.terminate()
        serve.wait(30)
    tail = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0, proc.stdout[-4000:]
    counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (passed|skipped|failed|error)", tail))
    assert counts.get("passed", 0) >= 10 and "failed" not in counts and "error" not in counts
    if os.geteuid() == 0:
        assert "skipped" not in counts, tail  # as root every one runs, in a private namespace
