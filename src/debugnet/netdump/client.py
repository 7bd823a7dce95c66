"""Drives one connection through a dump, with no I/O of its own besides reading the source.

It offers the same four calls as a connection (``receive_datagram``,
``datagrams_to_send``, ``next_deadline``, ``handle_timer``), so any shell that
runs a connection runs a dump. It keeps a bounded number of packets queued,
reading more of the source as acks come, and is done when FINISHED is acked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from debugnet.errors import ErrnoError
from debugnet.netdump.dump import DumpProducer, Outgoing
from debugnet.transport.client_events import ConnectionFailed, HeraldAcked, MessageAcked
from debugnet.transport.config import TransportConfig
from debugnet.transport.connection import ClientConnection
from debugnet.wire.constants import HERALD_PATH_MAX, NETDUMP_ACKPORT, NETDUMP_PORT
from debugnet.wire.message import MsgType

log = logging.getLogger(__name__)


def herald_data(path: str | None) -> bytes:
    """The herald's payload: the path and its NUL, or nothing."""
    if not path:
        return b""
    raw = path.encode("utf-8", "surrogateescape") + b"\0"
    if len(raw) > HERALD_PATH_MAX:
        log.warning("herald path of %d bytes: netdumpd will use its default path", len(raw))
    return raw


@dataclass(slots=True)
class DumpProgress:
    bytes_read: int
    bytes_out: int
    bytes_acked: int
    size: int | None
    retransmissions: int
    packets_sent: int


class NetdumpClient:
    def __init__(
        self,
        producer: DumpProducer,
        config: TransportConfig | None = None,
        *,
        path: str | None = None,
        herald_port: int = NETDUMP_PORT,
        client_port: int = NETDUMP_ACKPORT,
        max_queued: int | None = None,
    ) -> None:
        self.config = config or TransportConfig()
        self.conn = ClientConnection(
            self.config,
            herald_port=herald_port,
            client_port=client_port,
            herald_data=herald_data(path),
        )
        # The connection's own method: one call less per ack on the hot path.
        self.receive_datagram: Callable[[bytes, float, int], None] = self.conn.receive_datagram
        self.producer = producer
        self._messages: Iterator[Outgoing] | None = producer.messages()
        # Enough queued to keep the window full, little enough to bound memory.
        self._max_queued = max_queued or max(4 * self.config.window, 256)
        self._finish_id: int | None = None
        self.server_port: int | None = None
        self.done = False
        self.error: ErrnoError | None = None

    # -- the connection's interface ------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, int]]:
        self._fill()
        out = self.conn.datagrams_to_send(now)
        self._drain_events()
        return out

    def next_deadline(self) -> float | None:
        return None if self.done or self.error else self.conn.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.conn.handle_timer(now)
        self._drain_events()

    # -- progress ------------------------------------------------------------------

    @property
    def progress(self) -> DumpProgress:
        stats = self.conn.stats
        return DumpProgress(
            self.producer.bytes_read,
            self.producer.bytes_out,
            stats.bytes_acked,
            self.producer.size,
            stats.retransmissions,
            stats.packets_sent,
        )

    # -- internals -------------------------------------------------------------------

    def _fill(self) -> None:
        messages = self._messages
        conn = self.conn
        if messages is None or self.error is not None:
            return
        while conn.outstanding < self._max_queued:
            item = next(messages, None)
            if item is None:
                self._messages = None
                self._finish_id = conn.finish()
                return
            conn.send(item.type, item.data, offset_start=item.offset)

    def _drain_events(self) -> None:
        while (event := self.conn.next_event()) is not None:
            if isinstance(event, HeraldAcked):
                self.server_port = event.server_port
                log.info("server answered from port %d", event.server_port)
            elif isinstance(event, MessageAcked):
                if event.message_id == self._finish_id and event.type == MsgType.FINISHED:
                    self.done = True
            elif isinstance(event, ConnectionFailed):
                self.error = event.error
