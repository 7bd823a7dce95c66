"""A herald path the server cannot use: the dump lands in the default path, said once."""

from __future__ import annotations

import logging

import pytest

from tests.dumpclient import DumpClient
from tests.netutil import free_loopback
from tests.serverutil import kdh, wait_for


def test_unusable_path_is_warned_once_per_client(
    run_server, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level("INFO")
    srv = run_server()
    first = free_loopback((20024,))
    second = free_loopback((20024,), avoid={first})
    for ip in (first, first, first, second):
        with DumpClient(ip, srv.ip) as c:
            c.herald(path=b"rack9/nope")
            c.dump(b"d" * 100, kdh(100))
        # One dump at a time: the next herald comes after this session's linger.
        wait_for(lambda: srv.server.active_sessions() == 0)
    wait_for(lambda: (srv.dumpdir / f"vmcore.{second}.0").exists())
    assert sorted(p.name for p in srv.dumpdir.glob("vmcore.*[0-9]")) == sorted(
        [f"vmcore.{first}.0", f"vmcore.{first}.1", f"vmcore.{first}.2", f"vmcore.{second}.0"]
    )
    warnings = [r for r in caplog.records if "herald path" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [first, second]
    assert warnings[0].getMessage() == (
        f"{first}: herald path 'rack9/nope' is not a directory inside {srv.dumpdir}; "
        f"its dumps go to {srv.dumpdir}"
    )
