"""A session worker on its own: a context and a callback, no listener, an in-memory store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from debugnet.server.config import ServerConfig
from debugnet.server.context import SessionContext
from debugnet.server.endings import Ending
from debugnet.server.handler import HandlerRunner
from debugnet.server.listener import Server, _arrival
from debugnet.server.resolver import Resolver
from debugnet.server.worker import SessionWorker
from debugnet.transport.server_session import Herald
from tests.dumpclient import DATA, DumpClient
from tests.memstore import MemoryStore
from tests.netutil import free_loopback
from tests.serverutil import kdh

SERVER_IP = "127.0.0.1"


class Done:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.calls: list[tuple[SessionWorker, Ending | None]] = []

    def __call__(self, worker: SessionWorker, outcome: Ending | None) -> None:
        self.calls.append((worker, outcome))
        self.event.set()


@pytest.fixture(params=[True, False], ids=["recvmmsg", "recv"])
def context(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[SessionContext, MemoryStore]]:
    config = ServerConfig(tmp_path, timeout=600.0, linger=0.05, resolve=False, batch=request.param)
    resolver = Resolver(enabled=False)
    store = MemoryStore()
    yield SessionContext(config, resolver, HandlerRunner(None, tmp_path), store), store
    resolver.close()


def start(context: SessionContext, client: DumpClient, done: Done) -> SessionWorker:
    worker = SessionWorker(context, Herald(1), client.ip, SERVER_IP, done)
    worker.start()
    client.sock.settimeout(10)
    ack, (_src, port) = client.sock.recvfrom(64)
    assert ack == (1).to_bytes(4, "big")
    client.port, client.seqno = port, 2
    return worker


def test_a_worker_records_a_dump_and_reports_once(
    context: tuple[SessionContext, MemoryStore],
) -> None:
    ctx, store = context
    done = Done()
    with DumpClient(free_loopback((20024,)), SERVER_IP) as client:
        worker = start(ctx, client, done)
        data = bytes(range(256)) * 40
        client.dump(data, kdh(len(data)))
    assert done.event.wait(10)
    assert done.calls == [(worker, Ending.COMPLETE)]
    sink = store.sinks[0]
    assert bytes(sink.data) == data and sink.info_text.endswith(b"Dump complete\n")


def test_request_end_wakes_an_idle_worker(context: tuple[SessionContext, MemoryStore]) -> None:
    ctx, store = context
    done = Done()
    with DumpClient(free_loopback((20024,)), SERVER_IP) as client:
        worker = start(ctx, client, done)
        client.send(DATA, b"x" * 100)  # a dump now
        worker.request_end()  # the 600 s timeout is far away: only the wake-up can end it
        assert done.event.wait(10)
    assert done.calls == [(worker, Ending.TIMED_OUT)]
    assert store.sinks[0].info_text.endswith(b"Dump incomplete: client timed out\n")


def test_a_herald_only_session_is_no_dump(context: tuple[SessionContext, MemoryStore]) -> None:
    """Acked, then silent: nothing is created, no ending, no handler; it says it was herald-only."""
    ctx, store = context
    done = Done()
    with DumpClient(free_loopback((20024,)), SERVER_IP) as client:
        worker = start(ctx, client, done)
        assert worker.herald_only_silence(worker.created + 1e6) is not None
        worker.request_end()
        assert done.event.wait(10)
    assert done.calls == [(worker, None)]
    assert store.sinks == []
    assert worker.recorder is not None and worker.recorder.herald_only


def test_a_herald_read_late_is_not_a_restart(context: tuple[SessionContext, MemoryStore]) -> None:
    """A retransmitted herald the listener reads only after data came is still a retransmission."""
    ctx, _store = context
    done = Done()
    with DumpClient(free_loopback((20024,)), SERVER_IP) as client:
        worker = start(ctx, client, done)
        client.send(DATA, b"x" * 100)
        assert worker.acked_at is not None
        assert worker.herald_again(Herald(1), 0.0, arrived=worker.acked_at - 0.01)
        # sent before the client saw our ack, it crossed the ack: ignored, not a restart
        assert worker.herald_again(Herald(1), 0.0, arrived=worker.acked_at + 0.01)
        assert worker.dump_open()
        assert not worker.herald_again(Herald(1), 0.0, arrived=worker.acked_at + 1.5)
        assert not worker.herald_again(Herald(1), 0.0)  # no timestamp: as netdumpd, a restart
        worker.request_end()
        assert done.event.wait(10)


def test_the_listener_reads_when_a_herald_arrived(tmp_path: Path) -> None:
    """SO_TIMESTAMP on the herald socket: the arrival time the worker compares with its ack."""
    server = Server(ServerConfig(tmp_path, bind=SERVER_IP, port=0, resolve=False))
    server.open()
    assert server.sock is not None
    before = time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b"x" * 24, server.address)
        _data, ancdata, _flags, _peer = server.sock.recvmsg(64, 256)
    arrived = _arrival(ancdata)
    server.shutdown()
    assert arrived is not None and before - 1.0 <= arrived <= time.time() + 1.0
