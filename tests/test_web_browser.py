"""The dashboard in a real browser: Debian's chromium driven by Playwright.

`debugnet web` runs as a separate process with users configured; the browser
logs in, filters, opens a dump, downloads its vmcore (compared byte for byte
with what the client sent), merges two groups and logs out, with a
screenshot of every page kept as an artifact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import artifacts_dir, browser, free_tcp_port, need_chromium, start_cli, stop
from tests.netutil import free_loopback
from tests.webdumps import Known, make_known_dumps
from tests.webutil import htpasswd

pytestmark = pytest.mark.slow

TCP_SIG = "Fatal trap NUM: page fault while in kernel mode in tcp_output"
ZIO_SIG = "Fatal trap NUM: page fault while in kernel mode in zio_done"


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, Known]]:
    need_chromium()
    known = make_known_dumps(tmp_path / "crash")
    users = htpasswd(tmp_path / "users", {"ops": "correct horse"})
    ip = free_loopback(ports=())
    port = free_tcp_port(ip)
    proc = start_cli(
        [
            "web",
            "--dir",
            str(known.dumpdir),
            "--bind",
            ip,
            "--port",
            str(port),
            "--auth-file",
            str(users),
        ],
        ready="dashboard at",
    )
    try:
        yield f"http://{ip}:{port}", known
    finally:
        stop(proc)


def login(page: Any, base: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url  # not logged in: the form, not the dashboard
    page.fill("input[name=user]", "ops")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert page.is_visible("text=Login failed.")
    page.fill("input[name=user]", "ops")
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Overview')")


def test_browser_dashboard(dashboard: tuple[str, Known], tmp_path: Path) -> None:
    base, known = dashboard
    shots = artifacts_dir("dashboard")
    with browser() as b:
        context = b.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        page = context.new_page()
        login(page, base)
        assert page.inner_text(".cards .card .n >> nth=0") == "6"
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        # Filter the list by host, then by state.
        page.click("header >> text=Dumps")
        page.fill("input[name=host]", known.host_a)
        page.click("button:has-text('Filter')")
        assert page.is_visible("text=3 shown of 3 matching")
        page.select_option("select[name=state]", "complete")
        page.click("button:has-text('Filter')")
        assert page.is_visible("text=2 shown of 2 matching")
        page.screenshot(path=str(shots / "dumps.png"), full_page=True)

        # Open the oldest of them: host_a's first dump, the msgbuf's panic highlighted.
        dump_id = f"{known.host_a}.0"
        page.click(f"a[href='/dumps/{dump_id}']")
        page.wait_for_selector(f"h1:has-text('{dump_id}')")
        assert "panic: page fault" in page.inner_text("pre.msgbuf mark >> nth=-1")
        page.screenshot(path=str(shots / "dump.png"), full_page=True)

        # Download the vmcore through the browser and compare it byte for byte.
        with page.expect_download() as info:
            page.click(f"tr:has-text('vmcore.{dump_id}') a.download")
        saved = tmp_path / "downloaded.vmcore"
        info.value.save_as(saved)
        assert saved.read_bytes() == known.tcp_image

        # Merge the two page-fault groups.
        page.click("header >> text=Groups")
        assert page.locator("tr.group").count() == 5
        page.screenshot(path=str(shots / "groups.png"), full_page=True)
        page.select_option("select[name=a]", TCP_SIG)
        page.select_option("select[name=b]", ZIO_SIG)
        page.click("button:has-text('Merge')")
        page.wait_for_selector("text=merged: 2")
        assert page.locator("tr.group").count() == 4
        row = page.locator("tr.group", has_text=TCP_SIG)
        assert row.locator("td.num").inner_text() == "3"
        page.screenshot(path=str(shots / "groups-merged.png"), full_page=True)

        page.click("header >> text=Hosts")
        assert page.locator("svg.spark").count() == 2
        page.screenshot(path=str(shots / "hosts.png"), full_page=True)

        # A phone-sized window reads the overview without sideways scrolling.
        phone = b.new_context(
            viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
        )
        small = phone.new_page()
        small.goto(base + "/")
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        small.screenshot(path=str(shots / "overview-phone.png"), full_page=True)

        # Delete a dump: the browser asks first (dismissed: nothing happens), then does it.
        doomed = f"{known.host_b}.2"
        page.goto(f"{base}/dumps/{doomed}")
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click("button:has-text('Delete this dump')")
        assert page.url.endswith(f"/dumps/{doomed}")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("button:has-text('Delete this dump')")
        page.wait_for_selector("text=5 shown of 5 matching")
        assert not (known.dumpdir / f"vmcore.{doomed}").exists()

        page.click("button:has-text('Log out')")
        page.wait_for_selector("h1:has-text('Log in')")
        page.goto(base + "/dumps")
        assert "/login" in page.url
    assert sorted(p.name for p in shots.iterdir()) == [
        "dump.png",
        "dumps.png",
        "groups-merged.png",
        "groups.png",
        "hosts.png",
        "overview-phone.png",
        "overview.png",
    ]
