"""The progress line of ``debugnet send``: fitted to 60, 80 and 120 columns."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from debugnet.cli.progressbar import Snapshot, human, render
from tests.netutil import free_loopback
from tests.ptyrun import run_on_pty

MIDWAY = Snapshot(
    bytes_read=512_000_000,
    bytes_acked=500_000_000,
    size=1_024_000_000,
    retransmissions=12,
    elapsed=20.0,
    compressing=False,
)
COMPRESSING = Snapshot(512_000_000, 100_000_000, 1_024_000_000, 0, 10.0, compressing=True)
UNKNOWN_SIZE = Snapshot(7_000_000, 7_000_000, None, 1, 2.0, compressing=False)


def test_human_units() -> None:
    assert [human(n) for n in (0, 999, 1500, 2_500_000, 3_000_000_000)] == [
        "0 B", "999 B", "1.5 kB", "2.5 MB", "3.0 GB",
    ]  # fmt: skip


def test_wide_terminal_shows_everything() -> None:
    line = render(MIDWAY, 120)
    assert line.startswith(" 50% 500.0 MB of 1.0 GB  [###")
    assert "25.0 MB/s" in line and "ETA 0:20" in line and "retrans 12" in line
    assert len(line) <= 119


@pytest.mark.parametrize("columns", [20, 40, 60, 80, 120, 200])
@pytest.mark.parametrize("snap", [MIDWAY, COMPRESSING, UNKNOWN_SIZE])
def test_line_never_reaches_the_last_column(snap: Snapshot, columns: int) -> None:
    line = render(snap, columns)
    assert 0 < len(line) <= columns - 1
    if columns >= 40:
        assert "MB" in line  # the amount always keeps its unit


def test_narrowing_drops_the_least_important_first() -> None:
    widths = {c: render(MIDWAY, c) for c in (120, 80, 60, 40)}
    assert "retrans" in widths[120] and "[" in widths[120]
    assert "ETA" in widths[60] and "MB/s" in widths[60]
    assert "retrans" not in widths[40] and "[" not in widths[40]
    assert widths[40].startswith(" 50% 500.0 MB of 1.0 GB")


def test_compressing_shows_the_input_rate_and_what_was_sent() -> None:
    line = render(COMPRESSING, 120)
    assert line.startswith(" 50% 512.0 MB of 1.0 GB")  # input read, of the input's size
    assert "in 51.2 MB/s" in line and "sent 100.0 MB" in line


@pytest.mark.parametrize("columns", [60, 80, 120])
@pytest.mark.parametrize("compress", [None, "gzip"])
def test_progress_on_a_terminal(
    run_server, tmp_path: Path, columns: int, compress: str | None
) -> None:  # type: ignore[no-untyped-def]
    srv = run_server()
    data = (bytes(range(256)) * 64 + os.urandom(4096)) * 150
    (tmp_path / "core").write_bytes(data)
    client = free_loopback((20024,))
    argv = [sys.executable, "-m", "debugnet", "send", "-s", srv.ip, "-c", client]
    argv += [*(["--compress", compress] if compress else []), str(tmp_path / "core")]
    res, screen = run_on_pty(columns, argv)
    assert res.returncode == 0, screen
    drawn = [seg for seg in re.split(r"[\r\n]", screen) if seg]
    assert drawn, screen
    assert all(len(seg) <= columns - 1 for seg in drawn), drawn
    last = drawn[-1]
    assert last.startswith("100% ") and f"of {human(len(data))}" in last
    if compress and columns >= 80:
        assert " in " in last and "sent " in last
    summary = res.stdout.decode()
    assert f"to {srv.ip} port 20023 in" in summary  # the herald port, not the session's
