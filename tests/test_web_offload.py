"""A page waiting on the catalogue (a database retrying, a slow bucket) holds up only the
pages that read it: the dashboard's event loop goes on serving everything else."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

from debugnet.web.app import WebConfig, create_app
from debugnet.web.auth import Auth
from debugnet.web.catalogue_source import CatalogueSource
from debugnet.web.run import WebServer
from debugnet.web.source import DumpFilter, Record
from tests.browser import free_tcp_port
from tests.netutil import free_loopback


class StalledSource(CatalogueSource):
    """A real catalogue whose list query waits until the test lets it go."""

    entered = threading.Event()
    release = threading.Event()

    def dumps(self, f: DumpFilter, limit: int, offset: int) -> list[Record]:
        self.entered.set()
        self.release.wait(60)
        return super().dumps(f, limit, offset)


def test_a_stalled_query_does_not_stall_the_dashboard(tmp_path: Path) -> None:
    (tmp_path / "crash").mkdir()
    source = StalledSource.open(tmp_path / "crash")
    assert isinstance(source, StalledSource)
    ip = free_loopback((20024,))
    web = WebServer(create_app(WebConfig(source, Auth(None))), ip, free_tcp_port(ip))
    web.start()
    stalled: list[bytes] = []
    waiting = threading.Thread(
        target=lambda: stalled.append(
            urllib.request.urlopen(f"{web.url}/api/dumps", timeout=60).read()
        )
    )
    try:
        waiting.start()
        assert source.entered.wait(30)
        # the list is stuck in the catalogue; the login page and static files are not
        login = urllib.request.urlopen(f"{web.url}/login", timeout=10).read()
        assert b"password" in login
        css = urllib.request.urlopen(f"{web.url}/static/style.css", timeout=10)
        assert css.status == 200
        assert stalled == []
    finally:
        source.release.set()
        waiting.join(60)
        web.close()
        source.close()
    assert stalled and json.loads(stalled[0])["dumps"] == []
