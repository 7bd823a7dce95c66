"""The tally and the Prometheus collector, without a server: every family in the exposition."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from debugnet.catalogue.sqlbase import CatalogueError
from debugnet.errors import InvalidArgument
from debugnet.server.metrics import MetricsServer, ServerCollector, Sources, parse_address
from debugnet.server.notify import Delivery
from debugnet.server.tally import Histogram, Tally
from debugnet.transport.server_session import SessionStats
from tests.netutil import free_loopback


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def scrape(sources: Sources) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(sources))
    return samples(generate_latest(registry).decode())


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram((1.0, 10.0))
    for v in (0.5, 1.0, 5, 50):
        h.observe(v)
    assert h.cumulative() == [("1.0", 2), ("10.0", 3), ("+Inf", 4)]
    assert h.total == 56.5 and h.n == 4


def test_live_sessions_are_read_at_scrape_and_folded_once(tmp_path: Path) -> None:
    tally = Tally()
    stats = SessionStats()
    tally.herald("received")
    tally.herald("accepted")
    tally.herald("received")
    tally.herald_refused("no_storage")
    tally.session_started(stats)
    stats.data_bytes, stats.acks = 1000, 3
    stats.drop("bad header")
    got = scrape(Sources(tally, tmp_path))
    assert got[("debugnet_received_bytes_total", ())] == 1000
    assert got[("debugnet_sessions_active", ())] == 1
    stats.data_bytes = 5000  # the session goes on: the next scrape sees it, nothing copied
    assert scrape(Sources(tally, tmp_path))[("debugnet_received_bytes_total", ())] == 5000
    tally.session_ended(stats)
    tally.session_ended(stats)  # a second end is ignored
    tally.dump_finished("complete", "none", 2.0, 5000)
    tally.handler_ran("0")
    got = scrape(Sources(tally, tmp_path))
    assert got[("debugnet_received_bytes_total", ())] == 5000
    assert got[("debugnet_acks_sent_total", ())] == 3
    assert got[("debugnet_sessions_active", ())] == 0
    assert got[("debugnet_datagrams_dropped_total", (("reason", "bad_header"),))] == 1
    assert got[("debugnet_heralds_total", (("outcome", "received"),))] == 2
    assert got[("debugnet_heralds_total", (("outcome", "accepted"),))] == 1
    assert got[("debugnet_heralds_total", (("outcome", "retransmitted"),))] == 0
    assert got[("debugnet_heralds_refused_total", (("reason", "no_storage"),))] == 1
    key = ("debugnet_dumps_finished_total", (("reason", "none"), ("result", "complete")))
    assert got[key] == 1
    assert got[("debugnet_handler_runs_total", (("status", "0"),))] == 1
    assert got[("debugnet_dump_duration_seconds_count", ())] == 1
    assert got[("debugnet_dump_duration_seconds_sum", ())] == 2.0
    assert got[("debugnet_dump_size_bytes_bucket", (("le", "+Inf"),))] == 1


def test_disk_catalogue_alerts_and_build_info(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    sources = Sources(
        Tally(),
        tmp_path,
        catalogue_size=lambda: 42,
        deliveries=lambda: {Delivery.SENT: 3, Delivery.DROPPED: 1},
    )
    got = scrape(sources)
    # Another writer may change the file system between the two statvfs calls; a
    # difference far below a gigabyte still shows the figure is this directory's.
    assert abs(got[("debugnet_dumpdir_free_bytes", ())] - st.f_bavail * st.f_frsize) < 1 << 30
    assert got[("debugnet_dumpdir_free_inodes", ())] > 0
    assert got[("debugnet_catalogue_dumps", ())] == 42
    assert got[("debugnet_catalogue_up", ())] == 1
    assert got[("debugnet_alerts_total", (("result", "sent"),))] == 3
    assert got[("debugnet_alerts_total", (("result", "dropped"),))] == 1
    build = [k for k in got if k[0] == "debugnet_build_info"]
    assert build and dict(build[0][1])["version"]
    missing = scrape(Sources(Tally(), tmp_path / "gone"))
    assert ("debugnet_dumpdir_free_bytes", ()) not in missing


def test_metrics_server_serves_metrics(tmp_path: Path) -> None:
    server = MetricsServer(Sources(Tally(), tmp_path), free_loopback(()), 0)
    try:
        host, port = server.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert ("debugnet_sessions_active", ()) in samples(text)
    finally:
        server.close()


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:9023", "--metrics") == ("127.0.0.1", 9023)
    assert parse_address(":9023", "--metrics") == ("127.0.0.1", 9023)
    for bad in ("9023", "host:", "h:70000"):
        with pytest.raises(InvalidArgument):
            parse_address(bad, "--metrics")


def test_a_catalogue_down_still_answers_the_scrape(tmp_path: Path) -> None:
    def down() -> int:
        raise CatalogueError("catalogue postgresql://dumps@db/dumps unreachable")

    got = scrape(Sources(Tally(), tmp_path, catalogue_size=down))
    assert got[("debugnet_catalogue_up", ())] == 0
    assert ("debugnet_catalogue_dumps", ()) not in got
    assert got[("debugnet_dumpdir_free_inodes", ())] > 0
