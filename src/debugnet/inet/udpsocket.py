"""Runs a sans-I/O client (a connection or a netdump client) over a UDP socket.

The socket is bound to the client port (20024 for netdump) because the
server always answers there. The loop is aioquic's: call the core with
``now = time.monotonic()``, send what it returns, read every ack that is
waiting, and sleep in ``select`` until the next deadline or a datagram. A
timer that is due is handled only after the acks already waiting were read.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Protocol

from debugnet.errors import Busy, DebugnetError, ErrnoError, InvalidArgument, error_for_errno
from debugnet.wire.constants import NETDUMP_ACKPORT

log = logging.getLogger(__name__)

_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_SOL_UDP = getattr(socket, "SOL_UDP", 17)
_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
_SEGMENT = struct.Struct("=H")
_GSO_MAX_SEGMENTS = 64
_GSO_MAX_BYTES = 65000
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


class Driver(Protocol):
    """What the shell needs from a core."""

    done: bool
    error: ErrnoError | None
    server_port: int | None

    def receive_datagram(self, data: bytes, now: float, src_port: int) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, int]]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class UdpShell:
    """One UDP socket on ``client:client_port`` talking to ``server``."""

    def __init__(
        self,
        server: str,
        *,
        client: str = "127.0.0.1",
        client_port: int = NETDUMP_ACKPORT,
        rcvbuf: int = 1 << 20,
        gso: bool = True,
    ) -> None:
        try:
            self.server = socket.gethostbyname(server)
        except OSError as exc:
            raise InvalidArgument(f"cannot resolve server {server!r}: {exc}") from None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((client, client_port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise Busy(
                    f"UDP port {client_port} on {client} is in use (another dump client?); "
                    "the server always answers on that port"
                ) from None
            raise error_for_errno(
                exc.errno or 0, f"cannot bind {client}:{client_port}: {exc}"
            ) from None
        try:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        except OSError:
            pass  # not Linux: refused heralds then show up as a timeout
        self.sock = sock
        self.client = client
        self.client_port = client_port
        self._peer_port: int | None = None
        self.gso = gso and sys.platform == "linux"
        """Send runs of equal-sized datagrams as one UDP_SEGMENT (GSO) write."""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> UdpShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        driver: Driver,
        *,
        progress: Callable[[], None] | None = None,
        progress_interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Run until the driver is done; raise its error if it fails."""
        sock = self.sock
        fd = sock.fileno()
        server = self.server
        sendto = sock.sendto
        next_progress = clock() + progress_interval
        while True:
            now = clock()
            deadline = driver.next_deadline()
            if deadline is not None and now >= deadline and self._receive(driver):
                # Acks that waited while this process was not running (stopped,
                # descheduled, a slow progress write) are progress: judge the
                # timers only after reading them.
                now = clock()
                deadline = driver.next_deadline()
            if deadline is not None and now >= deadline:
                driver.handle_timer(now)
            out = driver.datagrams_to_send(now)
            if out:
                if self.gso and len(out) > 1:
                    self._send_segmented(out, driver)
                else:
                    for data, port in out:
                        try:
                            sendto(data, (server, port))
                        except OSError as exc:
                            self._send_failed(exc, driver)
            got = self._receive(driver)
            if self._peer_port is None and driver.server_port is not None:
                # The session port is known: let the kernel filter for it and
                # hand us bare payloads (no address tuple per ack).
                self._peer_port = driver.server_port
                sock.connect((server, self._peer_port))
            if driver.error is not None:
                raise driver.error
            if driver.done:
                break
            if progress is not None and now >= next_progress:
                progress()
                next_progress = now + progress_interval
            if got:
                continue  # acks may have opened the window: send before sleeping
            deadline = driver.next_deadline()
            timeout = 1.0 if deadline is None else max(0.0, deadline - clock())
            if timeout > 0:
                select.select([fd], [], [], min(timeout, progress_interval))
        if progress is not None:
            progress()

    def _send_segmented(self, out: list[tuple[bytes, int]], driver: Driver) -> None:
        """Batch consecutive datagrams to one port whose sizes allow one GSO write.

        The kernel cuts the write back into the same datagrams (all of the
        first one's size, the last possibly shorter), so the server sees
        exactly what separate sends would give it, for one system call.
        """
        server = self.server
        i, n = 0, len(out)
        while i < n:
            data, port = out[i]
            seg = len(data)
            j = i + 1
            total = seg
            limit = min(n, i + _GSO_MAX_SEGMENTS)
            while j < limit:
                nxt, nport = out[j]
                size = len(nxt)
                if nport != port or size > seg or total + size > _GSO_MAX_BYTES:
                    break
                total += size
                j += 1
                if size < seg:
                    break
            try:
                if j - i == 1:
                    self.sock.sendto(data, (server, port))
                else:
                    cmsg = [(_SOL_UDP, _UDP_SEGMENT, _SEGMENT.pack(seg))]
                    self.sock.sendmsg([b"".join(d for d, _ in out[i:j])], cmsg, 0, (server, port))
            except OSError as exc:
                if j - i > 1 and exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.EIO):
                    log.debug("UDP GSO refused (%s); sending datagrams one by one", exc)
                    self.gso = False
                    for d, p in out[i:]:
                        try:
                            self.sock.sendto(d, (server, p))
                        except OSError as exc2:
                            self._send_failed(exc2, driver)
                    return
                self._send_failed(exc, driver)
            i = j

    def _receive(self, driver: Driver) -> int:
        """Feed every datagram waiting; return how many there were."""
        got = 0
        sock = self.sock
        server = self.server
        clock = time.monotonic
        peer = self._peer_port
        connected = peer is not None
        port = peer or 0
        recv = sock.recv
        recvfrom = sock.recvfrom
        receive = driver.receive_datagram
        addr = server
        while True:
            # One loop for both sockets: a connected one reads only its server.
            try:
                if connected:
                    data = recv(65536, socket.MSG_DONTWAIT)
                else:
                    data, (addr, port) = recvfrom(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return got
            except ConnectionRefusedError:
                self._refused(driver)
                continue
            except OSError as exc:
                raise self._recv_error(exc) from None
            if addr != server:
                log.debug("ignoring datagram from %s:%d", addr, port)
                continue
            got += 1
            receive(data, clock(), port)

    def _recv_error(self, exc: OSError) -> DebugnetError:
        """What a failed read means: ICMP said the server cannot be reached, or worse."""
        if exc.errno in _UNREACHABLE:
            self._drain_errors()
            return error_for_errno(exc.errno or 0, f"cannot reach {self.server}: {exc.strerror}")
        return DebugnetError(f"receive from {self.server} failed: {exc}")

    def _refused(self, driver: Driver) -> None:
        self._drain_errors()
        if driver.server_port is None:
            err = error_for_errno(
                errno.ECONNREFUSED,
                f"no dump server listening on {self.server} (connection refused)",
            )
            raise err
        log.debug("ICMP port unreachable from the server after the herald; ignored")

    def _drain_errors(self) -> None:
        try:
            while True:
                self.sock.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except OSError:
            return

    def _send_failed(self, exc: OSError, driver: Driver) -> None:
        if exc.errno in (errno.EAGAIN, errno.ENOBUFS):
            return  # the socket buffer is full: this datagram is lost, and will be resent
        if exc.errno == errno.ECONNREFUSED:
            self._refused(driver)
            return
        if exc.errno in _UNREACHABLE:
            raise error_for_errno(
                exc.errno, f"cannot reach {self.server}: {exc.strerror}"
            ) from None
        raise DebugnetError(f"send to {self.server} failed: {exc}") from None
