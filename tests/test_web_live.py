"""`debugnet serve --web --metrics --notify` with `debugnet send`, as an operator runs them.

The sender reads its dump from a pipe the test holds, so the dump stays in
flight (no timer involved) while the browser watches it arrive, Prometheus'
parser reads the metrics mid-dump, and the alert receiver waits. Then the
rest is written, and the dump is seen complete in all three.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser import (
    artifacts_dir,
    browser,
    free_tcp_port,
    free_udp_port,
    need_chromium,
    start_cli,
    stop,
)
from tests.httpsink import Receiver, reply
from tests.netutil import free_loopback
from tests.webutil import htpasswd

pytestmark = pytest.mark.slow

FIRST = 4 << 20  # more than the sender's read chunk, so this much is sent before it waits


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    families = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    out[("families", ())] = float(len(families))
    scrape.families = families  # type: ignore[attr-defined]
    return out


FAMILIES = {
    "debugnet_heralds",
    "debugnet_heralds_refused",
    "debugnet_sessions_active",
    "debugnet_received_bytes",
    "debugnet_acks_sent",
    "debugnet_datagrams_dropped",
    "debugnet_dumps_finished",
    "debugnet_handler_runs",
    "debugnet_dump_duration_seconds",
    "debugnet_dump_size_bytes",
    "debugnet_dumpdir_free_bytes",
    "debugnet_dumpdir_free_inodes",
    "debugnet_catalogue_dumps",
    "debugnet_catalogue_up",
    "debugnet_alerts",
    "debugnet_build_info",
}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[dict[str, object]]:
    pytest.importorskip("prometheus_client")
    ip = free_loopback(ports=())
    sink = Receiver(reply(200))
    handler = tmp_path / "handler.sh"
    handler.write_text("#!/bin/sh\nexit 3\n")
    handler.chmod(0o755)
    env = {
        "ip": ip,
        "udp": free_udp_port(ip),
        "web": f"http://{ip}:{free_tcp_port(ip)}",
        "metrics": f"http://{ip}:{free_tcp_port(ip)}/metrics",
        "dir": tmp_path / "crash",
        "sink": sink,
    }
    proc = start_cli(
        [
            "serve", "--dir", str(env["dir"]), "--bind", ip, "--port", str(env["udp"]),
            "--no-resolve", "--handler", str(handler),
            "--web", str(env["web"]).removeprefix("http://"),
            "--metrics", str(env["metrics"]).removeprefix("http://").removesuffix("/metrics"),
            "--notify", sink.url,
            "--auth-file", str(htpasswd(tmp_path / "users", {"ops": "pw"})),
        ],
        ready="metrics at",
    )  # fmt: skip
    try:
        yield env
    finally:
        stop(proc)
        sink.close()


def sender(env: dict[str, object], client: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "debugnet", "send", "-s", str(env["ip"]),
            "--port", str(env["udp"]), "-c", client, "--panic", "live panic", "-",
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll another process's state (never a protocol timer)."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout} s: {what}")
        time.sleep(0.05)


def test_metrics_and_alert_during_and_after_a_dump(serve: dict[str, object]) -> None:
    client = free_loopback(ports=(20024,), avoid={str(serve["ip"])})
    data = os.urandom(FIRST + 1_000_000)
    proc = sender(serve, client)
    assert proc.stdin is not None
    try:
        proc.stdin.write(data[:FIRST])
        proc.stdin.flush()
        url = str(serve["metrics"])
        wait_until(lambda: scrape(url)[("debugnet_received_bytes_total", ())] > 0, "bytes")
        during = scrape(url)
        assert scrape.families == FAMILIES  # type: ignore[attr-defined]
        assert during[("debugnet_sessions_active", ())] == 1
        assert during[("debugnet_heralds_total", (("outcome", "accepted"),))] == 1
        assert during[("debugnet_dump_duration_seconds_count", ())] == 0
        assert during[("debugnet_catalogue_dumps", ())] == 1  # recorded as it arrives
        assert during[("debugnet_dumpdir_free_bytes", ())] > 0
        sink: Receiver = serve["sink"]  # type: ignore[assignment]
        assert sink.bodies.empty()
        proc.stdin.write(data[FIRST:])
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    alert = json.loads(sink.bodies.get(timeout=30))
    assert alert["id"] == f"{client}.0" and alert["state"] == "complete"
    assert alert["new_signature"] is True and alert["signature"] == "live panic"
    assert alert["links"]["dump"] == f"{serve['web']}/dumps/{client}.0"
    assert "live panic" in alert["text"]
    sent = ("debugnet_alerts_total", (("result", "sent"),))
    handler = ("debugnet_handler_runs_total", (("status", "3"),))
    wait_until(lambda: scrape(url).get(handler) == 1, "the handler's exit status")
    wait_until(lambda: scrape(url).get(sent) == 1, "the alert counted once its answer came")
    after = scrape(url)
    assert after[("debugnet_received_bytes_total", ())] >= len(data)  # with retransmits
    assert after[("debugnet_acks_sent_total", ())] > 0
    key = ("debugnet_dumps_finished_total", (("reason", "none"), ("result", "complete")))
    assert after[key] == 1
    assert after[("debugnet_dump_size_bytes_sum", ())] == len(data)
    assert after[("debugnet_dump_duration_seconds_count", ())] == 1
    assert after[("debugnet_sessions_active", ())] == 0
    assert after[("debugnet_catalogue_dumps", ())] == 1
    assert after[sent] == 1
    saved = Path(str(serve["dir"])) / f"vmcore.{client}.0"
    assert saved.read_bytes() == data


def test_browser_sees_a_dump_arrive(serve: dict[str, object], tmp_path: Path) -> None:
    need_chromium()
    shots = artifacts_dir("live")
    client = free_loopback(ports=(20024,), avoid={str(serve["ip"])})
    data = os.urandom(FIRST + 1_000_000)
    base = str(serve["web"])
    with browser() as b:
        page = b.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        page.goto(base + "/")
        page.fill("input[name=user]", "ops")
        page.fill("input[name=password]", "pw")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Nothing arriving.")
        proc = sender(serve, client)
        assert proc.stdin is not None
        try:
            proc.stdin.write(data[:FIRST])
            proc.stdin.flush()
            # The page refreshes its "arriving now" table by itself (live.js).
            row = page.wait_for_selector(f"tr.arriving-row:has-text('{client}')", timeout=30_000)
            assert row is not None and "MiB" in row.inner_text()
            page.screenshot(path=str(shots / "overview-arriving.png"), full_page=True)
            proc.stdin.write(data[FIRST:])
            proc.stdin.close()
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        page.wait_for_selector("text=Nothing arriving.", timeout=30_000)
        sink: Receiver = serve["sink"]  # type: ignore[assignment]
        sink.bodies.get(timeout=30)  # catalogued by now: the alert comes after the record
        page.goto(base + "/dumps?q=live")
        page.click(f"a[href='/dumps/{client}.0']")
        page.wait_for_selector("h1 .state.complete")
        page.screenshot(path=str(shots / "dump-live.png"), full_page=True)
        with page.expect_download() as info:
            page.click(f"tr:has-text('vmcore.{client}.0') a.download")
        info.value.save_as(tmp_path / "got")
        assert (tmp_path / "got").read_bytes() == data
        page.goto(base + "/")
        page.screenshot(path=str(shots / "overview.png"), full_page=True)
