"""The herald listener: the server's front door and the registry of running sessions.

Heralds arrive on port 20023. For each new client a SessionWorker opens a
socket bound to the address the herald was sent to (found with IP_PKTINFO or
IP_RECVDSTADDR), so a multi-homed server answers from the address the client
is talking to, exactly as netdumpd does.
"""

from __future__ import annotations

import logging
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from enum import StrEnum
from types import FrameType

from debugnet.catalogue import Catalogue, CatalogueWriter, DumpRecord, open_catalogue_at
from debugnet.catalogue.postgres import PostgresCatalogue, is_postgres_url
from debugnet.catalogue.record import dump_id
from debugnet.catalogue.tracker import recover_interrupted
from debugnet.errors import WireError
from debugnet.server.admission import OPERATOR_ACTION, Admission, RateLimitedLog, Refusal
from debugnet.server.catalogued import CataloguedStore
from debugnet.server.config import ServerConfig
from debugnet.server.context import SessionContext
from debugnet.server.endings import Ending, Outcome
from debugnet.server.handler import HandlerRunner
from debugnet.server.monitor import Monitor
from debugnet.server.resolver import Resolver
from debugnet.server.retention import RetentionRunner, StoredDump
from debugnet.server.stores import dump_files_of, open_store, store_root
from debugnet.server.sweep import mark_interrupted
from debugnet.server.worker import SessionWorker
from debugnet.storage.interface import DumpStore
from debugnet.storage.s3.store import S3Store
from debugnet.transport.server_session import Herald
from debugnet.wire.message import parse_herald

log = logging.getLogger(__name__)

_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8 if sys.platform.startswith("linux") else None)
_IP_RECVDSTADDR = getattr(socket, "IP_RECVDSTADDR", None)
_SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29 if sys.platform.startswith("linux") else None)
_TIMEVAL = struct.Struct("@ll")


def _arrival(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """When the kernel took the datagram in (SO_TIMESTAMP, wall clock), if it said."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMP and len(data) >= _TIMEVAL.size:
            sec, usec = _TIMEVAL.unpack_from(data)
            return float(sec + usec / 1e6)
    return None


def _destination(ancdata: list[tuple[int, int, bytes]], fallback: str) -> str:
    for level, kind, data in ancdata:
        if level != socket.IPPROTO_IP:
            continue
        if kind == _IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntoa(data[8:12])  # in_pktinfo.ipi_addr: the header destination
        if kind == _IP_RECVDSTADDR and len(data) >= 4:
            return socket.inet_ntoa(data[:4])
    return fallback


class ListenerCounter(StrEnum):
    """What the listener counts; the values are the keys of ``Server.counters``."""

    BAD_HERALD = "bad herald"
    WRONG_SOURCE_PORT = "wrong source port"
    HERALDS = "heralds"
    HERALD_RETRANSMISSIONS = "herald retransmissions"
    RESTARTS = "restarts"
    SESSIONS = "sessions"
    DUMPS_SUCCESS = "dumps success"
    DUMPS_ERROR = "dumps error"
    DUMPS_TIMEOUT = "dumps timeout"
    DISPLACED = "displaced"
    HERALD_ONLY = "herald-only sessions"


_DUMPS = {
    Outcome.SUCCESS: ListenerCounter.DUMPS_SUCCESS,
    Outcome.ERROR: ListenerCounter.DUMPS_ERROR,
    Outcome.TIMEOUT: ListenerCounter.DUMPS_TIMEOUT,
}


def catalogued_store(config: ServerConfig, inner: DumpStore) -> CataloguedStore:
    writer = CatalogueWriter(open_catalogue_at(config.catalogue_url, config.dumpdir))
    claims: Catalogue | None = None
    shared = config.catalogue_url is not None and is_postgres_url(config.catalogue_url)
    if shared and not isinstance(inner, S3Store):  # a bucket allocates atomically itself
        claims = PostgresCatalogue(config.catalogue_url or "", retry_for=2.0)
    return CataloguedStore(
        inner,
        writer,
        store_root(inner, config),
        collector=config.collector_id,
        layout=config.layout,
        progress_interval=config.progress_interval,
        handler=config.handler is not None,
        claims=claims,
        files=dump_files_of(inner, config),
    )


class Server:
    """Listens for heralds and runs one SessionWorker per client."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.resolver = Resolver(config.resolve, config.dns_timeout)
        self.handlers = HandlerRunner(
            config.handler, config.dumpdir, config.handler_jobs, config.handler_queue
        )
        directory = open_store(config)
        self.backend = directory
        self.catalogue: CataloguedStore | None = None
        self.store: DumpStore = directory
        if config.catalogue:
            self.catalogue = catalogued_store(config, directory)
            self.handlers.on_exit = self.catalogue.handler_exited
            self.store = self.catalogue
        self.monitor = Monitor()
        self.handlers.on_status = self.monitor.handler_ran
        self.context = SessionContext(
            config, self.resolver, self.handlers, self.store, self.monitor
        )
        self.counters: Counter[str] = Counter()
        """Keyed by ``ListenerCounter`` and ``Refusal`` values."""
        self.admission = Admission(
            config.allow, config.max_sessions, config.max_sessions_per_net, config.displace_after
        )
        self._refusal_log = RateLimitedLog()
        self.retention = RetentionRunner(
            config.dumpdir, config.retention, on_deleted=self._retention_deleted
        )
        self._workers: dict[str, SessionWorker] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sock: socket.socket | None = None

    # -- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        cfg = self.config
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEADDR: one owner
        for opt in (_IP_PKTINFO, _IP_RECVDSTADDR):
            if opt is not None:
                sock.setsockopt(socket.IPPROTO_IP, opt, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))
        if _SO_TIMESTAMP is not None:
            try:  # tells a late herald retransmission from a client that started over
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMP, 1)
            except OSError as exc:
                log.debug("SO_TIMESTAMP: %s", exc)
        sock.bind((cfg.bind, cfg.port))
        self.sock = sock
        if isinstance(self.backend, S3Store):
            self.backend.sweep()
        if self.catalogue is not None:
            self.recover_interrupted()
        else:  # the port is ours: no one receives; the catalogue's recovery does this with it
            mark_interrupted(cfg.dumpdir, self.handlers.run)
        self.retention.start()

    def _retention_deleted(self, gone: list[StoredDump]) -> None:
        """Retention deleted these dumps' files: their records stay (history, groups), filesless."""
        if self.catalogue is None:
            return
        ids = [dump_id(d.path, d.host, d.index) for d in gone]

        def record(cat: Catalogue) -> None:
            for one in ids:
                cat.update(one, files=[])

        self.catalogue.writer.submit(record)

    def recover_interrupted(self) -> None:
        """Dumps this collector was receiving when it last died: marked, handler run (error)."""
        assert self.catalogue is not None
        found: list[DumpRecord] = []
        cfg = self.config
        root = store_root(self.backend, cfg)
        mark = self.backend.mark_interrupted_file if isinstance(self.backend, S3Store) else None

        def recover(cat: Catalogue) -> None:
            found.extend(recover_interrupted(cat, root, cfg.collector_id, time.time(), mark))

        self.catalogue.writer.submit(recover)
        self.catalogue.writer.flush()
        for record in found:
            names = [root / f for f in record.files]
            info = next((p for p in names if p.name.startswith("info.")), None)
            core = next((p for p in names if p.name.startswith("vmcore")), None)
            if info is not None and core is not None:
                self.handlers.run("error", record.ip or "", record.host, info, core)

    @property
    def address(self) -> tuple[str, int]:
        assert self.sock is not None
        addr: tuple[str, int] = self.sock.getsockname()
        return addr

    def serve_forever(self) -> None:
        assert self.sock is not None
        recvmsg = self.sock.recvmsg
        cmsg_space = socket.CMSG_SPACE(12) + socket.CMSG_SPACE(_TIMEVAL.size)
        while not self._stop.is_set():
            try:
                data, ancdata, _flags, peer = recvmsg(self.config.max_datagram, cmsg_space)
            except (BlockingIOError, TimeoutError, InterruptedError):
                continue
            except OSError as exc:
                log.debug("herald socket: %s", exc)
                continue
            self.handle_datagram(data, ancdata, peer)

    def stop(self) -> None:
        self._stop.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        """End every open session as server stopped (handlers run), then close."""
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.request_end(Ending.SERVER_STOPPED)
        for worker in workers:
            worker.thread.join(timeout)
        self.handlers.wait(timeout)
        self.retention.stop()
        if self.catalogue is not None:
            self.catalogue.writer.close(timeout)
            if self.catalogue.claims is not None:
                self.catalogue.claims.close()
        if isinstance(self.backend, S3Store):
            self.backend.close()
        self.resolver.close()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: ending open sessions", signum)
            self.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    # -- heralds -------------------------------------------------------------

    def handle_datagram(
        self, data: bytes, ancdata: list[tuple[int, int, bytes]], peer: tuple[str, int]
    ) -> None:
        ip, port = peer
        self.monitor.herald("received")
        try:
            herald = parse_herald(data)
        except WireError as exc:
            self.counters[ListenerCounter.BAD_HERALD] += 1
            self.monitor.herald_refused("malformed")
            log.debug("%s:%d: not a herald: %s", ip, port, exc)
            return
        if port != self.config.client_port:
            self.counters[ListenerCounter.WRONG_SOURCE_PORT] += 1
            detail = f"sent from port {port}, not {self.config.client_port}"
            self._refuse(Refusal.WRONG_SOURCE_PORT, detail, ip)
            return
        self.counters[ListenerCounter.HERALDS] += 1
        local = _destination(ancdata, self.config.bind)
        now = time.monotonic()
        # Only this thread adds workers, so the lookup and the replacement below
        # need not be atomic; the worker's own lock is never taken under ours.
        with self._lock:
            old = self._workers.get(ip)
        if old is not None:
            if old.herald_again(herald, now, _arrival(ancdata)):
                self.counters[ListenerCounter.HERALD_RETRANSMISSIONS] += 1
                self.monitor.herald("retransmitted")
                return
            if old.dump_open():
                log.warning("%s: new herald after data; ending the old dump as timed out", ip)
                self.counters[ListenerCounter.RESTARTS] += 1
            old.request_end()
        elif not self._admit(ip, now):
            return
        self._start(herald, ip, local)

    def _admit(self, ip: str, now: float) -> bool:
        """Ask admission; end the session it displaces. False: the herald is refused."""
        with self._lock:
            sessions = list(self._workers.values())
        decision = self.admission.decide(ip, sessions, now)
        if decision.refusal is not None:
            self._refuse(decision.refusal, "over the limit", ip)
            return False
        victim = decision.displace
        if victim is not None:
            assert isinstance(victim, SessionWorker)
            with self._lock:
                if self._workers.get(victim.client_ip) is victim:
                    del self._workers[victim.client_ip]
                self.counters[ListenerCounter.DISPLACED] += 1
            victim.request_end()
            self._refusal_log.warn(
                ListenerCounter.DISPLACED,
                f"{victim.client_ip}: herald-only session displaced by a herald from {ip}",
                now,
            )
        return True

    def _start(self, herald: Herald, ip: str, local: str) -> None:
        """Start a worker; out of threads or memory, the herald is refused, never a crash."""
        try:
            worker = SessionWorker(self.context, herald, ip, local, self.worker_done)
            with self._lock:
                self._workers[ip] = worker
            worker.start()
        except (RuntimeError, MemoryError, OSError) as exc:
            with self._lock:
                if self._workers.get(ip) is not None and not self._workers[ip].thread.is_alive():
                    del self._workers[ip]
            self._refuse(Refusal.NO_RESOURCES, f"cannot start a session: {exc}", ip)
            return
        with self._lock:
            self.counters[ListenerCounter.SESSIONS] += 1

    def _refuse(self, reason: Refusal, detail: str, ip: str) -> None:
        """Count a refused herald; log it at most once a minute per reason."""
        with self._lock:
            self.counters[reason] += 1
        self.monitor.herald_refused(reason.name.lower())
        level = logging.ERROR if reason in OPERATOR_ACTION else logging.WARNING
        message = f"{ip}: {reason.value}: {detail}; herald not acknowledged"
        self._refusal_log.warn(reason, message, time.monotonic(), level)

    # -- called by workers ---------------------------------------------------

    def worker_done(self, worker: SessionWorker, ending: Ending | None) -> None:
        """A worker's thread is ending: count how its dump ended and forget it."""
        with self._lock:
            if ending is not None:
                self.counters[_DUMPS[ending.handler]] += 1
                self.retention.trigger()
            elif worker.recorder is not None and worker.recorder.herald_only:
                self.counters[ListenerCounter.HERALD_ONLY] += 1
            if self._workers.get(worker.client_ip) is worker:
                del self._workers[worker.client_ip]
        if worker.refused is not None:
            self._refuse(*worker.refused, ip=worker.client_ip)

    def active_sessions(self) -> int:
        with self._lock:
            return len(self._workers)
