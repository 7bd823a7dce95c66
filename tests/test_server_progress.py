"""The server's per-session log lines, driven in virtual time."""

from __future__ import annotations

import re
import time
from collections import Counter

from debugnet.server.progress import ProgressLog, end_line, summary_line
from tests.dumpclient import DATA, DumpClient
from tests.netutil import free_loopback
from tests.serverutil import kdh, wait_for

EPOCH = time.mktime((2026, 1, 2, 3, 4, 0, 0, 0, -1))
"""Wall-clock time at monotonic 0: monotonic t reads as 03:04:t local time."""


def _drive(log: ProgressLog, feed: list[tuple[float, int]]) -> list[tuple[float, str]]:
    lines = []
    for now, received in feed:
        line = log.update(received, now)
        if line is not None:
            lines.append((now, line))
    return lines


def _looks(start: float, end: float, rate: float, base: int, t0: float) -> list[tuple[float, int]]:
    """A look every 0.5 s, as the worker does, with ``rate`` bytes/s arriving since t0."""
    steps = int((end - start) / 0.5)
    return [(start + i * 0.5, base + int((start + i * 0.5 - t0) * rate)) for i in range(steps)]


def test_a_flowing_dump_gets_a_line_per_interval_with_its_rate() -> None:
    log = ProgressLog(0.0, 5.0, epoch=EPOCH)
    lines = _drive(log, _looks(0.5, 20.5, 2_000_000, 0, 0.0))
    assert [t for t, _ in lines] == [5.0, 10.0, 15.0, 20.0]
    assert lines[0][1] == "10000000 bytes received, 2.0 MB/s"
    assert lines[-1][1] == "40000000 bytes received, 2.0 MB/s"


def test_a_stall_is_one_line_then_one_when_data_resumes() -> None:
    log = ProgressLog(0.0, 5.0, epoch=EPOCH)
    feed = _looks(0.5, 12.5, 1_000_000, 0, 0.0)  # data until 12.0
    stuck = feed[-1][1]
    feed += [(12.5 + i * 0.5, stuck) for i in range(1200)]  # ten minutes with nothing
    feed += [(612.5, stuck + 4096), (613.0, stuck + 8192)]
    lines = _drive(log, feed)
    texts = [line for _, line in lines]
    assert texts[:2] == ["5000000 bytes received, 1.0 MB/s", "10000000 bytes received, 1.0 MB/s"]
    stalled = [line for line in texts if "stalled since" in line]
    assert stalled == [f"stalled since 03:04:12, {stuck} bytes received"]
    assert texts[-1] == f"data again after 600 s stalled, {stuck + 4096} bytes received"
    assert len(texts) == 5  # two rates, the last rate before the stall, stalled, resumed
    assert "0.0 MB/s" not in " ".join(texts)


def test_after_resuming_the_rate_lines_come_back() -> None:
    log = ProgressLog(0.0, 5.0, epoch=EPOCH)
    feed = [(t * 0.5, 0) for t in range(1, 21)]  # nothing for 10 s
    feed += _looks(10.5, 21.0, 1_000_000, 1000, 10.5)
    texts = [line for _, line in _drive(log, feed)]
    assert texts[0] == "stalled since 03:04:00, 0 bytes received"
    assert texts[1].startswith("data again after 10 s stalled, 1000 bytes received")
    assert texts[2] == "5001000 bytes received, 1.0 MB/s"


def test_end_line_carries_state_size_and_panic() -> None:
    line = end_line("success", "complete", 1 << 20, 2.0, "page fault", "/crash/vmcore.h.0")
    assert line == (
        "dump ended (success): complete, 1048576 bytes on disk in 2.00 s (0.5 MB/s), "
        "panic 'page fault' -> /crash/vmcore.h.0"
    )
    unknown = end_line("error", "unsuccessful", None, 1.0, None, "v")
    assert "size unknown" in unknown and "no dump header" in unknown


def test_summary_is_one_readable_line() -> None:
    counters = Counter({"heralds": 7, "sessions": 3, "dumps success": 2, "bad herald": 1})
    assert summary_line(counters) == "sessions: 3, dumps success: 2, heralds: 7, bad herald: 1"
    assert summary_line(Counter()) == "no heralds received"


def test_end_line_of_a_real_session_counts_the_file(run_server, caplog) -> None:  # type: ignore[no-untyped-def]
    """Overlapping data: more bytes arrive than the file holds; the line gives the file's."""
    caplog.set_level("INFO")
    srv = run_server()
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.send(DATA, b"p" * 5000)
        c.dump(b"q" * 1000, kdh(1000, panicstring="hung disk"))

    def end() -> str | None:
        return next(
            (r.getMessage() for r in caplog.records if "dump ended" in r.getMessage()), None
        )

    wait_for(lambda: end() is not None)
    size = (srv.dumpdir / f"vmcore.{ip}.0").stat().st_size
    assert size == 5000
    pattern = (
        rf"{re.escape(ip)}: dump ended \(success\): complete, 5000 bytes on disk in "
        rf"[0-9.]+ s \([0-9.]+ MB/s\), panic 'hung disk' -> "
        + re.escape(str(srv.dumpdir / f"vmcore.{ip}.0"))
    )
    assert re.fullmatch(pattern, end() or ""), end()
