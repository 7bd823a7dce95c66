"""The netgdb proxy's I/O shell: sockets around ProxyCore and its KernelSessions.

One thread, one selector: the herald socket, and per kernel a UDP socket on a
fresh port (bound to the address the herald was sent to, connected to the
kernel) and a TCP listener for gdb, then gdb's connection. Each loop feeds
the cores with ``now``, sends what they return and sleeps until the next
datagram, connection or deadline.
"""

from __future__ import annotations

import logging
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from debugnet.errors import error_for_errno
from debugnet.netgdb.proxy_core import ALLOW_ALL, ProxyConfig, ProxyCore, Verdict
from debugnet.netgdb.session import KernelSession
from debugnet.wire.constants import NETGDB_PORT

log = logging.getLogger(__name__)

_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8 if sys.platform.startswith("linux") else None)
_PORT_TRIES = 64
_MAX_DATAGRAM = 65536


@dataclass(frozen=True, slots=True)
class ProxyAddresses:
    bind: str = "0.0.0.0"
    port: int = NETGDB_PORT
    gdb_bind: str = "127.0.0.1"
    gdb_port: int = NETGDB_PORT + 1
    """The first session's; concurrent ones take the next free port (0 = any)."""


@dataclass(eq=False)
class _Handle:
    session: KernelSession
    udp: socket.socket
    listener: socket.socket | None
    gdb_port: int
    gdb: socket.socket | None = None
    pending: bytearray = field(default_factory=bytearray)
    """Bytes gdb has not taken yet: a stopped gdb must not stall the other sessions."""
    blocked: bool = False
    done: bool = False


def _local_address(ancdata: list[tuple[int, int, bytes]], fallback: str) -> str:
    """The address a herald was sent to (IP_PKTINFO's ipi_addr), to answer from it."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntoa(data[8:12])
    return fallback


class NetgdbProxy:
    """``open``, then ``serve_forever`` until ``stop``; ``close`` ends every session."""

    def __init__(self, addresses: ProxyAddresses, config: ProxyConfig | None = None) -> None:
        self.addresses = addresses
        self.core = ProxyCore(config)
        self.sel = selectors.DefaultSelector()
        self.handles: list[_Handle] = []
        self.finished: list[str] = []
        """Summary lines of ended sessions, oldest first."""
        self.sock: socket.socket | None = None
        self._stop = threading.Event()

    # -- lifecycle -------------------------------------------------------------

    def open(self) -> None:
        a = self.addresses
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if _IP_PKTINFO is not None:
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            sock.bind((a.bind, a.port))
        except OSError as exc:
            sock.close()
            raise error_for_errno(exc.errno or 0, f"cannot bind {a.bind}:{a.port}: {exc}") from None
        sock.setblocking(False)
        self.sock = sock
        self.sel.register(sock, selectors.EVENT_READ, ("herald", None))
        allow = self.core.config.allow
        nets = "all networks" if allow == ALLOW_ALL else ", ".join(map(str, allow))
        log.info(
            "netgdb proxy: heralds on %s:%d from %s; gdb ports from %s:%d",
            a.bind,
            self.port,
            nets,
            a.gdb_bind,
            a.gdb_port,
        )

    @property
    def port(self) -> int:
        assert self.sock is not None
        port: int = self.sock.getsockname()[1]
        return port

    def stop(self) -> None:
        self._stop.set()

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            self.step(0.5)

    def close(self) -> None:
        """Send FINISHED to every kernel still connected, then close everything."""
        now = time.monotonic()
        for h in self.handles:
            h.session.shutdown(now)
        end = now + 1.0
        while self.handles and time.monotonic() < end:
            self.step(0.05)
        for h in list(self.handles):
            self._retire(h, time.monotonic())
        if self.sock is not None:
            self.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None
        self.sel.close()

    # -- one turn of the loop ---------------------------------------------------

    def step(self, max_wait: float) -> None:
        now = time.monotonic()
        deadlines = [d for h in self.handles if (d := h.session.next_deadline()) is not None]
        wait = max(0.0, min([max_wait, *(d - now for d in deadlines)]))
        for key, mask in self.sel.select(wait):
            kind, handle = key.data
            now = time.monotonic()
            if kind == "herald":
                self._on_herald(now)
            elif kind == "udp":
                self._on_udp(handle, now)
            elif kind == "listen":
                self._on_accept(handle)
            elif kind == "gdb":
                if mask & selectors.EVENT_WRITE:
                    self._write_gdb(handle, now)
                if mask & selectors.EVENT_READ and handle.gdb is not None:
                    self._on_gdb(handle, now)
        now = time.monotonic()
        for h in list(self.handles):
            deadline = h.session.next_deadline()
            if deadline is not None and now >= deadline:
                self._on_udp(h, now)  # an ack already waiting is not overdue
                h.session.handle_timer(time.monotonic())
            self._flush(h, now)

    # -- heralds ---------------------------------------------------------------

    def _on_herald(self, now: float) -> None:
        assert self.sock is not None
        while True:
            try:
                data, anc, _flags, peer = self.sock.recvmsg(_MAX_DATAGRAM, socket.CMSG_SPACE(12))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("herald socket: %s", exc)
                return
            verdict, session = self.core.herald(data, peer, now)
            if verdict is Verdict.NEW and session is not None:
                local = _local_address(anc, self.addresses.bind)
                try:
                    self._start(session, local)
                except OSError as exc:
                    log.error("%s: cannot open its sockets: %s", session.label, exc)
                    self.core.remove(session)
            elif verdict is Verdict.AGAIN and session is not None:
                for h in self.handles:
                    if h.session is session:
                        self._flush(h, now)

    def _start(self, session: KernelSession, local: str) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((local, 0))
            udp.connect(session.kernel)
            udp.setblocking(False)
            listener, gdb_port = self._gdb_listener()
        except OSError:
            udp.close()
            raise
        h = _Handle(session, udp, listener, gdb_port)
        self.handles.append(h)
        self.sel.register(udp, selectors.EVENT_READ, ("udp", h))
        self.sel.register(listener, selectors.EVENT_READ, ("listen", h))
        log.info(
            "%s: session on UDP port %d; gdb: target remote %s:%d",
            session.label,
            udp.getsockname()[1],
            self.addresses.gdb_bind,
            gdb_port,
        )
        self._flush(h, time.monotonic())

    def _gdb_listener(self) -> tuple[socket.socket, int]:
        """The first free port from --gdb-port on (or any port when it is 0)."""
        a = self.addresses
        in_use = {h.gdb_port for h in self.handles}
        tries = 1 if a.gdb_port == 0 else _PORT_TRIES
        last: OSError | None = None
        for port in range(a.gdb_port, a.gdb_port + tries):
            if port and port in in_use:
                continue
            lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                lsock.bind((a.gdb_bind, port))
                lsock.listen(1)
            except OSError as exc:
                lsock.close()
                last = exc
                continue
            lsock.setblocking(False)
            return lsock, lsock.getsockname()[1]
        raise last or OSError(f"no free TCP port for gdb from {a.gdb_port}")

    # -- per session -------------------------------------------------------------

    def _on_udp(self, h: _Handle, now: float) -> None:
        while True:
            try:
                data = h.udp.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP unreachable from the kernel's port, and the like
                log.debug("%s: %s", h.session.label, exc)
                return
            h.session.receive_datagram(data, time.monotonic())

    def _on_accept(self, h: _Handle) -> None:
        assert h.listener is not None
        try:
            conn, peer = h.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if h.gdb is not None or h.session.end_reason is not None:
            log.warning("%s: refusing a second gdb from %s:%d", h.session.label, *peer)
            conn.close()
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        h.gdb = conn
        h.session.gdb_connected(f"{peer[0]}:{peer[1]}")
        log.info("%s: gdb connected from %s:%d", h.session.label, *peer)
        self.sel.register(conn, selectors.EVENT_READ, ("gdb", h))
        self._close_listener(h)

    def _on_gdb(self, h: _Handle, now: float) -> None:
        assert h.gdb is not None
        try:
            data = h.gdb.recv(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("%s: gdb connection: %s", h.session.label, exc)
            data = b""
        if data:
            h.session.gdb_data(data)
            return
        log.debug("%s: gdb closed its connection", h.session.label)
        self._close_gdb(h)
        h.session.gdb_closed(now)

    def _flush(self, h: _Handle, now: float) -> None:
        s = h.session
        datagrams = s.datagrams_to_send(now)
        out = s.take_gdb_output()  # gdb first: it waits for these bytes, the kernel for no ack
        if out and h.gdb is not None:
            h.pending += out
            self._write_gdb(h, now)
        for datagram in datagrams:
            try:
                h.udp.send(datagram)
            except OSError as exc:  # the kernel is gone or the buffer is full: resent later
                log.debug("%s: send: %s", s.label, exc)
        if s.gdb_should_close and not h.pending:
            self._close_gdb(h)
            self._close_listener(h)
        if s.closed:
            self._retire(h, now)

    def _retire(self, h: _Handle, now: float) -> None:
        if h.done:
            return
        h.done = True
        self._close_gdb(h)
        self._close_listener(h)
        self.sel.unregister(h.udp)
        h.udp.close()
        self.handles.remove(h)
        self.core.remove(h.session)
        line = h.session.summary(now)
        self.finished.append(line)
        log.info("%s", line)

    def _write_gdb(self, h: _Handle, now: float) -> None:
        """Write what gdb will take now; wait for writability for the rest."""
        assert h.gdb is not None
        try:
            sent = h.gdb.send(h.pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            log.info("%s: writing to gdb failed: %s", h.session.label, exc)
            self._close_gdb(h)
            h.session.gdb_closed(now)
            return
        del h.pending[:sent]
        if bool(h.pending) != h.blocked:  # ask for writability only while gdb lags
            h.blocked = bool(h.pending)
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if h.blocked else 0)
            self.sel.modify(h.gdb, events, ("gdb", h))

    def _close_gdb(self, h: _Handle) -> None:
        if h.gdb is not None:
            self.sel.unregister(h.gdb)
            h.gdb.close()
            h.gdb = None
            h.pending.clear()
            h.blocked = False

    def _close_listener(self, h: _Handle) -> None:
        if h.listener is not None:
            self.sel.unregister(h.listener)
            h.listener.close()
            h.listener = None

    def gdb_ports(self) -> dict[tuple[str, int], int]:
        """Each live kernel's gdb port (for tests and status)."""
        return {h.session.kernel: h.gdb_port for h in self.handles}
