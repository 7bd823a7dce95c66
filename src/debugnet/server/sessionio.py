"""The system calls of one session's socket, apart from the worker's loop.

Opening the connected socket with a large receive buffer, choosing batched
recvmmsg/sendmmsg or one datagram at a time, arming the receive timeout and
sending acks that may meet an ICMP error: the parts of a session's I/O that
need no session state.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from collections.abc import Callable

from debugnet.server import mmsg
from debugnet.server.config import ServerConfig

log = logging.getLogger(__name__)

Receive = Callable[[], list[memoryview]]
Transmit = Callable[[list[bytes]], object]
Release = Callable[[], None]


def open_session_socket(config: ServerConfig, local_ip: str, client_ip: str) -> socket.socket:
    """A socket bound to the address the herald came to and connected to the client's port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, config.rcvbuf)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, config.rcvbuf)
    sock.bind((local_ip, 0))
    sock.connect((client_ip, config.client_port))
    return sock


def set_receive_timeout(sock: socket.socket, seconds: float) -> None:
    """How long the next blocking receive may wait (SO_RCVTIMEO; must be > 0)."""
    secs = int(seconds)
    try:
        sock.setsockopt(
            socket.SOL_SOCKET,
            socket.SO_RCVTIMEO,
            struct.pack("ll", secs, int((seconds - secs) * 1e6)),
        )
    except OSError as exc:
        log.debug("SO_RCVTIMEO: %s", exc)


def send_all(sock: socket.socket, datagrams: list[bytes], label: str) -> None:
    """Send each datagram; a refused one (the client is not listening yet) is not an error."""
    for datagram in datagrams:
        try:
            sock.send(datagram)
        except OSError as exc:
            if exc.errno != errno.ECONNREFUSED:
                log.debug("%s: ack not sent: %s", label, exc)


def session_io(
    sock: socket.socket,
    config: ServerConfig,
    stopping: Callable[[], bool],
    closers: list[Callable[[], None]],
    label: str,
) -> tuple[Receive, Transmit, Release]:
    """Batched recvmmsg/sendmmsg where the platform has them, else a datagram at a time.

    ``receive`` returns an empty list, not a zero-length datagram, once
    ``stopping()`` is true and the socket was shut down to wake it.
    ``release`` gives the receive buffers' memory back while the session is idle.
    """
    if config.batch and mmsg.available():
        rx = mmsg.BatchReceiver(sock.fileno(), slot_size=config.max_datagram)
        tx = mmsg.BatchSender(sock.fileno())
        closers.append(rx.close)
        return rx.receive, tx.send, rx.release
    buf = bytearray(config.max_datagram)
    view = memoryview(buf)
    recv_into = sock.recv_into

    def receive() -> list[memoryview]:
        n = recv_into(buf)
        return [view[:n]] if n or not stopping() else []

    def transmit(datagrams: list[bytes]) -> None:
        send_all(sock, datagrams, label)

    return receive, transmit, lambda: None  # one 64 KiB buffer: nothing worth giving back
