"""The server's Monitor under a real in-process server: heralds, progress, ends; CLI checks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from debugnet.cli import main
from debugnet.server.monitor import Ended
from tests.dumpclient import DATA, KDH, DumpClient
from tests.netutil import free_loopback
from tests.serverutil import Running, kdh, wait_for
from tests.webdumps import start_any_port


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    srv = start_any_port(tmp_path / "crash")
    yield srv
    srv.stop()


def test_heralds_progress_and_ends(running: Running) -> None:
    monitor = running.server.monitor
    ended: list[Ended] = []
    monitor.on_ended(ended.append)
    server = running.server.address
    client = free_loopback(ports=(20024,), avoid={running.ip})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
        junk.sendto(b"not a herald", server)
    with DumpClient(client, server[0], server_port=server[1]) as c:
        c.herald()
        c.send(KDH, kdh(8000, panicstring="half"))
        c.send(DATA, b"a" * 3000, 0)
        (live,) = monitor.arriving()
        assert (live.host, live.ip, live.bytes, live.length) == (client, client, 3000, 8000)
        assert live.elapsed >= live.idle >= 0
        assert monitor.receiving() == 1
        c.finish()  # a hole at 3000-8000: incomplete
    wait_for(lambda: len(ended) == 1)
    (end,) = ended
    assert (end.state, end.reason_label, end.index, end.bytes) == ("incomplete", "holes", 0, 3000)
    assert end.reason is not None and end.reason.startswith("holes: 5000 bytes missing")
    wait_for(lambda: monitor.receiving() == 0)
    snap = monitor.tally.snapshot()
    assert snap.heralds["received"] == 2 and snap.heralds["accepted"] == 1
    assert snap.heralds_refused == {"malformed": 1}
    assert snap.dumps_finished == {("incomplete", "holes"): 1}
    assert snap.size.n == 1 and snap.size.total == 3000


def test_serve_refuses_a_public_dashboard_without_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["serve", "--dir", str(tmp_path / "crash"), "--bind", "127.0.0.1", "--port", "9"]
    assert main([*base, "--web", "0.0.0.0:8023"]) == 1
    assert "without --auth-file" in capsys.readouterr().err
    assert main([*base, "--auth-file", str(tmp_path / "u")]) == 1
    assert "--auth-file needs --web" in capsys.readouterr().err
    assert main([*base, "--notify", "gopher://x"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err
    assert main([*base, "--metrics", "nowhere"]) == 1
    assert "expected ADDR:PORT" in capsys.readouterr().err


def test_feed_catalogues_and_alerts_for_a_server_without_catalogue(tmp_path: Path) -> None:
    """`serve --no-catalogue --web`: the feed reads the record from the files and keeps it."""
    from debugnet.catalogue import open_catalogue
    from debugnet.server.feed import EndedFeed
    from debugnet.server.notify import DumpEnded

    srv = start_any_port(tmp_path / "crash", catalogue=False)
    alerts: list[DumpEnded] = []
    catalogue = open_catalogue(srv.dumpdir)
    feed = EndedFeed(srv.dumpdir, catalogue, alerts.append)
    srv.server.monitor.on_ended(feed.submit)
    client = free_loopback(ports=(20024,), avoid={srv.ip})
    try:
        for _ in range(2):
            with DumpClient(client, *srv.server.address) as c:
                c.herald()
                c.dump(b"p" * 5000, kdh(5000, panicstring="no catalogue here"))
        wait_for(lambda: len(alerts) == 2)
    finally:
        srv.stop()
        feed.close()
    first, second = alerts
    assert (first.id, first.state, first.signature) == (
        f"{client}.0",
        "complete",
        "no catalogue here",
    )
    assert first.new_signature and not second.new_signature
    record = catalogue.get(f"{client}.1")
    assert record is not None and record.ip == client and record.bytes == 5000
    catalogue.close()
