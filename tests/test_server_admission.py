"""Admission: the allowlist, the session limits, displacing silent heralds, never a crash.

Unit tests drive ``Admission`` and the rate-limited log in virtual time; the
listener is driven through ``handle_datagram`` (no socket needed to refuse),
and one end-to-end test floods the server with 2,000 heralds from 2,000
loopback addresses and then sends a real dump.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from debugnet.server import worker as worker_module
from debugnet.server.admission import Admission, RateLimitedLog, Refusal
from debugnet.server.config import ServerConfig
from debugnet.server.listener import Server
from debugnet.wire.message import Message, MsgType
from tests.dumpclient import DumpClient
from tests.netutil import free_loopback
from tests.serverutil import kdh, wait_for

HERALD = Message.build(MsgType.HERALD, 1, b"").emit()


@dataclass
class Fake:
    client_ip: str
    last_heard: float
    herald_only: bool = True

    def herald_only_silence(self, now: float) -> float | None:
        return now - self.last_heard if self.herald_only else None


def test_everyone_is_allowed_by_default_and_said_so() -> None:
    adm = Admission()
    assert adm.decide("203.0.113.9", [], 0.0).refusal is None
    assert "from everyone" in adm.describe()


def test_the_allowlist() -> None:
    adm = Admission(allow=("192.0.2.0/24", "198.51.100.7/32"))
    assert adm.decide("192.0.2.200", [], 0.0).refusal is None
    assert adm.decide("198.51.100.7", [], 0.0).refusal is None
    assert adm.decide("198.51.100.8", [], 0.0).refusal is Refusal.NOT_ALLOWED
    assert "192.0.2.0/24, 198.51.100.7/32" in adm.describe()


def test_at_the_limit_the_longest_silent_herald_only_session_gives_way() -> None:
    adm = Admission(max_sessions=3, max_per_net=3)
    busy = Fake("192.0.2.1", 0.0, herald_only=False)  # a dump: never displaced
    old = Fake("192.0.2.2", 1.0)
    new = Fake("192.0.2.3", 5.0)
    sessions = [busy, old, new]
    assert adm.decide("198.51.100.1", sessions, 2.5).refusal is Refusal.MAX_SESSIONS  # 1.5 s
    assert adm.decide("198.51.100.1", sessions, 3.0).displace is old  # silent 2 s
    assert adm.decide("198.51.100.1", sessions, 100.0).displace is old  # the longest
    assert adm.decide("198.51.100.1", [busy], 100.0).displace is None


def test_the_per_net_limit_displaces_within_that_net_only() -> None:
    adm = Admission(max_sessions=10, max_per_net=2)
    other_net = Fake("198.51.100.1", 0.0)  # silent longest, but elsewhere
    same = [Fake("192.0.2.1", 5.0), Fake("192.0.2.2", 6.0, herald_only=False)]
    assert adm.decide("192.0.2.9", [other_net, *same], 6.0).refusal is Refusal.MAX_PER_NET
    assert adm.decide("192.0.2.9", [other_net, *same], 7.0).displace is same[0]
    assert adm.decide("203.0.113.1", [other_net, *same], 7.0).refusal is None


def test_refusals_are_logged_at_most_once_a_minute_per_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rl = RateLimitedLog()
    assert rl.warn("a", "first a", 0.0)
    assert not rl.warn("a", "second a", 59.9)
    assert rl.warn("b", "first b", 30.0)
    assert rl.warn("a", "third a", 60.0)
    assert [r.getMessage() for r in caplog.records] == [
        "first a",
        "first b",
        "third a (1 more since the last such line)",
    ]


def _server(tmp_path: Path, **kw: object) -> Server:
    config = ServerConfig(tmp_path, bind="127.0.0.1", port=0, resolve=False, **kw)  # type: ignore[arg-type]
    return Server(config)


def test_a_thread_that_cannot_start_refuses_the_herald_and_the_server_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = _server(tmp_path)
    real = threading.Thread.start
    failures = {"left": 3}

    def start(self: threading.Thread) -> None:
        if self.name.startswith("dump-") and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("can't start new thread")
        real(self)

    monkeypatch.setattr(worker_module.threading.Thread, "start", start)
    for i in range(3):
        server.handle_datagram(HERALD, [], (f"127.77.0.{i + 1}", 20024))
    assert server.counters[Refusal.NO_RESOURCES] == 3
    assert server.active_sessions() == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "can't start new thread" in errors[0]  # once a minute
    server.handle_datagram(HERALD, [], ("127.77.0.9", 20024))  # threads are back
    assert server.active_sessions() == 1
    server.shutdown()


def test_heralds_from_outside_the_allowlist_or_a_wrong_port_are_counted(tmp_path: Path) -> None:
    server = _server(tmp_path, allow=("192.0.2.0/25",))
    server.handle_datagram(HERALD, [], ("192.0.2.200", 20024))
    server.handle_datagram(HERALD, [], ("192.0.2.1", 40000))
    assert server.counters[Refusal.NOT_ALLOWED] == 1
    assert server.counters[Refusal.WRONG_SOURCE_PORT] == 1
    assert server.active_sessions() == 0
    server.shutdown()


def test_limits_refuse_and_count(tmp_path: Path) -> None:
    server = _server(tmp_path, max_sessions=3, max_sessions_per_net=2)
    for ip in ["127.77.1.1", "127.77.1.2", "127.77.1.3", "127.77.2.1", "127.77.3.1"]:
        server.handle_datagram(HERALD, [], (ip, 20024))  # the sessions' acks go nowhere
    assert server.counters[Refusal.MAX_PER_NET] == 1  # 127.77.1.3
    assert server.counters[Refusal.MAX_SESSIONS] == 1  # 127.77.3.1
    assert server.active_sessions() == 3
    server.shutdown()


@pytest.mark.slow
def test_a_flood_of_silent_heralds_cannot_lock_out_a_real_client(run_server) -> None:
    srv = run_server()
    target = (srv.ip, 20023)
    base = random.Random().randint(100, 250)
    flooders: list[str] = []
    for i in range(2000):
        ip = f"127.{base}.{i // 250}.{i % 250 + 1}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((ip, 20024))
            except OSError:
                continue  # taken by someone else's test
            s.sendto(HERALD, target)
            flooders.append(ip)
        if len(flooders) % 100 == 0:  # no more than the listener's socket buffer holds
            wait_for(lambda: srv.server.counters["heralds"] >= len(flooders), timeout=60)
    assert len(flooders) > 1900
    wait_for(lambda: srv.server.counters["heralds"] >= len(flooders), timeout=60)
    assert srv.server.active_sessions() <= 256
    refused = srv.server.counters[Refusal.MAX_SESSIONS] + srv.server.counters[Refusal.MAX_PER_NET]
    assert refused + srv.server.counters["displaced"] >= len(flooders) - 256
    client_ip = free_loopback((20024,))
    data = bytes(random.Random(7).randbytes(300_000))
    with DumpClient(client_ip, srv.ip, retries=400) as c:  # heralds until a silent one gives way
        c.herald()
        c.dump(data, kdh(len(data)))
    assert (srv.dumpdir / f"vmcore.{client_ip}.0").read_bytes() == data
    assert (srv.dumpdir / f"info.{client_ip}.0").read_text().endswith("Dump complete\n")
    assert srv.server.counters["displaced"] >= 1
    names = {p.name for p in srv.dumpdir.iterdir()}
    assert not [n for n in names if f"127.{base}." in n]  # herald-only sessions leave nothing
