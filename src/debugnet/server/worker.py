"""One dump session on its own socket and thread.

A thread per session keeps a slow disk, a slow handler or a slow reverse DNS
for one client from ever stalling another, and lets the hot loop be a blocking
``recv_into`` on a connected socket: one syscall in, one out, per packet.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from debugnet.server import mmsg
from debugnet.server.progress import ProgressLog, end_line
from debugnet.server.storage import DumpFiles, DumpLimitReached, StorageError
from debugnet.transport.events import (
    DataRunReceived,
    FinishRequested,
    KdhReceived,
    KeyReceived,
    ServerEvent,
    SessionEnded,
    SessionTimedOut,
)
from debugnet.transport.server_session import Herald, ServerSession, SessionConfig, SessionState
from debugnet.wire.kdh import KDH_SIZE, KernelDumpHeader

if TYPE_CHECKING:
    from debugnet.server.listener import Server

log = logging.getLogger(__name__)

_POLL = 0.5
"""Seconds a blocked recv waits before the worker looks at timers and requests."""
_OVER = (SessionState.DONE, SessionState.TIMED_OUT, SessionState.FAILED)


def _format_holes(holes: list[tuple[int, int]], limit: int = 8) -> str:
    shown = ", ".join(f"0x{s:x}-0x{e:x}" for s, e in holes[:limit])
    if len(holes) > limit:
        shown += f", ... ({len(holes) - limit} more)"
    return shown


class SessionWorker:
    """Owns one ServerSession, its socket and its files."""

    def __init__(self, server: Server, herald: Herald, client_ip: str, local_ip: str) -> None:
        self.server = server
        self.config = server.config
        self.herald = herald
        self.client_ip = client_ip
        self.local_ip = local_ip
        self.lock = threading.Lock()
        self.session: ServerSession | None = None
        self.files: DumpFiles | None = None
        self.kdh: KernelDumpHeader | None = None
        self.host = client_ip
        self.end_requested = False
        self.sock: socket.socket | None = None
        self._closers: list[Callable[[], None]] = []
        self.batches = 0
        self.thread = threading.Thread(target=self._main, name=f"dump-{client_ip}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- called from the listener thread --------------------------------------

    def herald_again(self, herald: Herald, now: float) -> bool:
        """False when the client has started over after sending data."""
        if not self.lock.acquire(timeout=0.05):
            return True  # busy syncing; the client will send its herald again
        try:
            session = self.session
            if session is None:
                return True  # still setting up; the first herald's ack is on its way
            if not session.receive_herald(herald, now):
                return False
            self._send(session.datagrams_to_send())
            return True
        finally:
            self.lock.release()

    def dump_open(self) -> bool:
        """Whether the dump is still receiving (not finished, failed or timed out)."""
        session = self.session
        return session is not None and session.state is SessionState.OPEN

    def request_end(self) -> None:
        """End the dump as timed out at the worker's next look (shutdown, or a restart)."""
        self.end_requested = True

    # -- the thread ----------------------------------------------------------

    def _main(self) -> None:
        try:
            if self._setup():
                self._loop()
        except Exception:
            log.exception("%s: session failed unexpectedly", self.client_ip)
            self._abort("error")
        finally:
            for close in self._closers:
                close()
            if self.sock is not None:
                self.sock.close()
            if self.files is not None:
                self.files.close()
            self.server.worker_done(self)

    def _setup(self) -> bool:
        cfg = self.config
        self.host = self.server.resolver.hostname(self.client_ip)
        directory = self.server.output_dir(self.herald.path, self.client_ip)
        try:
            self.sock = self._open_socket()
        except OSError as exc:
            log.error(
                "%s: cannot open a session socket on %s: %s", self.client_ip, self.local_ip, exc
            )
            return False
        self.files = self._create_files(directory)
        if self.files is None and directory != self.server.default_dir:
            log.warning(
                "%s: cannot create dump files in %s; retrying in the default path",
                self.client_ip,
                directory,
            )
            self.files = self._create_files(self.server.default_dir)
        if self.files is None:
            return False
        self.files.info(b"Dump from %s [%s]\n" % (self.host.encode(), self.client_ip.encode()))
        now = time.monotonic()
        session_cfg = SessionConfig(timeout=cfg.timeout, linger=cfg.linger)
        with self.lock:
            self.session = ServerSession(self.herald, now, session_cfg, label=self.client_ip)
            self._send(self.session.datagrams_to_send())
        log.info(
            "%s: dump from %s [%s] started -> %s",
            self.client_ip,
            self.host,
            self.client_ip,
            self.files.vmcore_path,
        )
        return True

    def _create_files(self, directory: Path) -> DumpFiles | None:
        cfg = self.config
        try:
            return DumpFiles.create(directory, self.host, cfg.max_dumps, cfg.write_buffer)
        except DumpLimitReached as exc:
            log.error("%s: %s; herald not acknowledged", self.client_ip, exc)
        except OSError as exc:
            log.error("%s: cannot create dump files in %s: %s", self.client_ip, directory, exc)
        return None

    def _open_socket(self) -> socket.socket:
        cfg = self.config
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        force = getattr(socket, "SO_RCVBUFFORCE", None)
        try:
            if force is None:
                raise PermissionError
            sock.setsockopt(socket.SOL_SOCKET, force, cfg.rcvbuf)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cfg.rcvbuf)
        sock.bind((self.local_ip, 0))
        sock.connect((self.client_ip, cfg.client_port))
        secs = int(_POLL)
        sock.setsockopt(
            socket.SOL_SOCKET,
            socket.SO_RCVTIMEO,
            struct.pack("ll", secs, int((_POLL - secs) * 1e6)),
        )
        return sock

    def _io(self) -> tuple[Callable[[], list[memoryview]], Callable[[list[bytes]], object]]:
        """Batched recvmmsg/sendmmsg where the platform has them, else a packet at a time."""
        assert self.sock is not None
        sock = self.sock
        if self.config.batch and mmsg.available():
            rx = mmsg.BatchReceiver(sock.fileno(), slot_size=self.config.max_datagram)
            tx = mmsg.BatchSender(sock.fileno())
            self._closers.append(rx.close)
            return rx.receive, tx.send
        buf = bytearray(self.config.max_datagram)
        view = memoryview(buf)
        recv_into = sock.recv_into

        def receive() -> list[memoryview]:
            return [view[: recv_into(buf)]]

        return receive, self._send

    def _loop(self) -> None:
        assert self.session is not None and self.files is not None
        session, files, lock = self.session, self.files, self.lock
        receive, transmit = self._io()
        monotonic = time.monotonic
        next_look = monotonic() + _POLL
        self._progress = ProgressLog(monotonic(), self.config.progress_interval)
        while True:
            try:
                views: list[memoryview] | None = receive()
            except (BlockingIOError, TimeoutError):
                views = None
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier ack; the client is not listening yet
            now = monotonic()
            if views:
                self.batches += 1
                with lock:
                    for ev in session.receive_datagrams(views, now):
                        if ev.__class__ is DataRunReceived:
                            try:
                                files.write_pieces(ev.offset, ev.pieces, ev.length)
                            except StorageError as exc:
                                self._storage_failed(exc)
                                return
                        else:
                            self._on_event(ev, now)
                        if session.state is SessionState.FAILED:
                            return
                    acks = session.datagrams_to_send()
                    if acks:
                        transmit(acks)
            if views is None or now >= next_look:
                next_look = now + _POLL
                if self._look(now):
                    return

    def _look(self, now: float) -> bool:
        """Timers, requests from other threads, progress. True when the session is over."""
        assert self.session is not None
        session = self.session
        with self.lock:
            if self.end_requested:
                session.time_out(now)
            session.handle_timer(now)
            while (ev := session.next_event()) is not None:
                self._on_event(ev, now)
        if session.state is SessionState.OPEN:
            line = self._progress.update(session.stats.data_bytes, now)
            if line is not None:
                log.info("%s: %s", self.client_ip, line)
        return session.state in _OVER

    # -- events --------------------------------------------------------------

    def _on_event(self, ev: ServerEvent, now: float) -> None:
        if isinstance(ev, KdhReceived):
            self._on_kdh(ev.raw)
        elif isinstance(ev, KeyReceived):
            self._on_key(ev.offset, ev.data)
        elif isinstance(ev, FinishRequested):
            self._on_finish(now)
        elif isinstance(ev, SessionTimedOut):
            self._on_timeout(now)
        elif isinstance(ev, SessionEnded):
            pass  # the loop sees the state and returns
        # Dump data never comes here: the hot loop writes DataRunReceived itself.

    def _on_kdh(self, raw: bytes) -> None:
        assert self.files is not None
        if len(raw) < KDH_SIZE:
            log.warning("%s: bad KDH: packet too small (%d bytes)", self.client_ip, len(raw))
            self.files.info(b"Bad KDH: packet too small\n")
            return
        kdh = KernelDumpHeader.parse(raw, lenient=True)  # netdumpd reads any version
        if kdh.version not in (1, 2, 3, 4):
            log.warning("%s: KDH version %d read as version 4", self.client_ip, kdh.version)
        self.kdh = kdh
        self.files.info(kdh.info_lines())
        if not kdh.parity_ok:
            log.warning("%s: KDH parity check failed", self.client_ip)
        try:
            self.files.rename_core(encrypted=kdh.encrypted, compression=self._compression())
        except OSError as exc:
            log.error("%s: cannot rename %s: %s", self.client_ip, self.files.vmcore_path, exc)

    def _compression(self) -> str:
        """The compression the KDH announces, if it is one a suffix exists for."""
        name = self.kdh.compression_name if self.kdh is not None else "none"
        return name if name in ("gzip", "zstd") else "none"

    def _on_key(self, offset: int, data: bytes) -> None:
        assert self.files is not None
        try:
            self.files.write_key(offset, data)
        except StorageError as exc:
            self._storage_failed(exc)

    def _on_finish(self, now: float) -> None:
        assert self.files is not None and self.session is not None
        kdh = self.kdh
        compressed = self._compression() != "none"
        try:
            self.files.sync(truncate_to=kdh.dumplength if compressed and kdh else None)
        except StorageError as exc:
            self._storage_failed(exc)
            return
        holes = self.session.missing(kdh.dumplength) if kdh is not None else []
        if holes:
            missing = sum(e - s for s, e in holes)
            line = f"Dump incomplete: {missing} bytes missing at {_format_holes(holes)}\n"
            self.files.info(line.encode())
            reason, state = "error", f"incomplete, {missing} bytes missing"
            log.warning("%s: dump incomplete: %d bytes missing", self.client_ip, missing)
        else:
            self.files.info(b"Dump complete\n")
            reason, state = "success", "complete"
        self.files.link_last()
        self.files.sync_dir()
        self.files.close()
        self.session.confirm_finished(now)
        self._finish(reason, now, state)

    def _on_timeout(self, now: float) -> None:
        assert self.files is not None
        try:
            self.files.sync()
        except StorageError as exc:
            self._storage_failed(exc)  # what was received is not on disk: say so
            return
        self.files.info(b"Dump incomplete: client timed out\n")
        self._finish("timeout", now, "incomplete, client timed out")

    def _storage_failed(self, exc: StorageError) -> None:
        assert self.files is not None and self.session is not None
        log.error("%s: %s", self.client_ip, exc)
        self.session.fail()
        self.files.info(b"Dump unsuccessful: %s\n" % str(exc).encode())
        self._finish("error", time.monotonic(), f"unsuccessful, {exc}")

    def _abort(self, reason: str) -> None:
        if self.session is not None and self.session.state not in _OVER:
            self.session.fail()
            if self.files is not None:
                self.files.info(b"Dump unsuccessful: internal error\n")
            self._finish(reason, time.monotonic())

    def _finish(self, reason: str, now: float, state: str = "unsuccessful") -> None:
        assert self.files is not None and self.session is not None
        try:
            size: int | None = os.stat(self.files.vmcore_path).st_size
        except OSError:
            size = None
        panic = self.kdh.panicstring if self.kdh is not None else None
        elapsed = now - self.session.started
        line = end_line(reason, state, size, elapsed, panic, str(self.files.vmcore_path))
        log.info("%s: %s", self.client_ip, line)
        log.debug(
            "%s: %d data bytes in %d packets, %d batches",
            self.client_ip,
            self.session.stats.data_bytes,
            self.session.stats.packets,
            self.batches,
        )
        self.server.handlers.run(
            reason, self.client_ip, self.host, self.files.paths.info, self.files.vmcore_path
        )
        self.server.record_outcome(reason)

    def _send(self, datagrams: list[bytes]) -> None:
        if self.sock is None:
            return
        for datagram in datagrams:
            try:
                self.sock.send(datagram)
            except OSError as exc:
                if exc.errno != errno.ECONNREFUSED:
                    log.debug("%s: ack not sent: %s", self.client_ip, exc)
