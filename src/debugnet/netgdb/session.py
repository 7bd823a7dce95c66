"""One kernel's netgdb session as the proxy sees it, sans-I/O.

Between a DuplexSession (the kernel's side) and a gdb TCP stream: the
kernel's in-order data becomes bytes for gdb (held until gdb connects, so the
unsolicited initial stop reply is not lost), and gdb's bytes are cut into
GDB units and sent as the kernel sends them: aux2 = the unit's full length,
mh_offset = the position within it, one message in flight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from debugnet.netgdb.framer import GdbFramer, split_unit
from debugnet.transport.duplex_config import DuplexConfig
from debugnet.transport.duplex_events import (
    PeerFinished,
    PeerSilent,
    SendFailed,
    SessionClosed,
    StreamData,
)
from debugnet.transport.duplex_session import DuplexSession, DuplexState

log = logging.getLogger(__name__)

HOLD = 0.05
"""Seconds the start of a kernel's GDB packet waits for its end before going to gdb anyway."""


class EndReason(Enum):
    GDB_DISCONNECTED = "gdb disconnected"
    KERNEL_FINISHED = "kernel sent FINISHED"
    KERNEL_SILENT = "kernel silent (timeout)"
    SEND_FAILED = "kernel stopped acking"
    SHUTDOWN = "proxy shut down"
    KERNEL_RESTARTED = "kernel heralded again"


@dataclass(slots=True)
class GdbSide:
    peer: str = ""
    bytes_to_gdb: int = 0
    bytes_from_gdb: int = 0
    connected: bool = False


class KernelSession:
    """A kernel at ``kernel`` (ip, port) that heralded us, and the gdb that attaches to it."""

    def __init__(
        self, kernel: tuple[str, int], herald_seqno: int, now: float, config: DuplexConfig
    ) -> None:
        self.kernel = kernel
        self.label = f"netgdb {kernel[0]}:{kernel[1]}"
        self.duplex = DuplexSession(herald_seqno, now, config, label=self.label)
        self.framer = GdbFramer()
        self.gdb = GdbSide()
        self.started = now
        self.ended_at: float | None = None
        self.end_reason: EndReason | None = None
        self._to_gdb = bytearray()
        self._ready = 0  # bytes of _to_gdb that end a whole GDB unit
        self._hold_until: float | None = None
        self._payload = config.payload_size

    # -- the kernel's side ---------------------------------------------------

    def receive_datagram(self, payload: bytes, now: float) -> None:
        self.duplex.receive_datagram(payload, now)
        self._events(now)

    def datagrams_to_send(self, now: float) -> list[bytes]:
        out = self.duplex.datagrams_to_send(now)
        self._events(now)
        return out

    def next_deadline(self) -> float | None:
        deadline = self.duplex.next_deadline()
        if self._hold_until is not None and (deadline is None or self._hold_until < deadline):
            return self._hold_until
        return deadline

    def handle_timer(self, now: float) -> None:
        if self._hold_until is not None and now >= self._hold_until:
            self._release()
        self.duplex.handle_timer(now)
        self._events(now)

    # -- the gdb side ----------------------------------------------------------

    def gdb_connected(self, peer: str) -> None:
        self.gdb.peer = peer
        self.gdb.connected = True

    def gdb_data(self, data: bytes) -> None:
        """Bytes gdb wrote: each whole unit is queued as the kernel's messages."""
        if self.duplex.state is not DuplexState.OPEN:
            return
        self.gdb.bytes_from_gdb += len(data)
        for unit in self.framer.feed(data):
            for piece, offset in split_unit(unit, self._payload):
                self.duplex.send(piece, offset=offset, aux2=len(unit))

    def gdb_closed(self, now: float) -> None:
        """gdb went away: the kernel resumed (or will), so we end with our FINISHED."""
        self.gdb.connected = False
        self._end(EndReason.GDB_DISCONNECTED, now)
        self.duplex.finish(now)

    def take_gdb_output(self) -> bytes:
        """Kernel bytes for gdb that end whole GDB units; empty until gdb is connected."""
        if not self.gdb.connected or not self._ready:
            return b""
        out = bytes(self._to_gdb[: self._ready])
        del self._to_gdb[: self._ready]
        self._ready = 0
        self.gdb.bytes_to_gdb += len(out)
        return out

    def _stream(self, ev: StreamData, now: float) -> None:
        """Hold the start of a unit until its last message (aux2 = the unit's length).

        gdb then gets each reply in one write instead of waking per message. A
        kernel whose aux2 does not say the length cannot stall gdb: what is
        held goes out after ``HOLD`` seconds whatever aux2 claimed.
        """
        self._to_gdb += ev.data
        if ev.offset + len(ev.data) < ev.aux2:
            if self._hold_until is None:
                self._hold_until = now + HOLD
            return
        self._release()

    def _release(self) -> None:
        self._ready = len(self._to_gdb)
        self._hold_until = None

    def abandon(self, now: float) -> None:
        """The kernel started over: end without a FINISHED, which would hit its new session."""
        self._end(EndReason.KERNEL_RESTARTED, now)
        self.duplex.close()

    def shutdown(self, now: float) -> None:
        self._end(EndReason.SHUTDOWN, now)
        self.duplex.finish(now)

    # -- state -----------------------------------------------------------------

    @property
    def gdb_should_close(self) -> bool:
        """The kernel's side is over: close gdb's connection (after its last bytes)."""
        return self.end_reason is not None and not self._to_gdb

    @property
    def closed(self) -> bool:
        """Nothing more to send or receive: the shell may drop the UDP socket."""
        return self.duplex.state is DuplexState.CLOSED

    def summary(self, now: float) -> str:
        st = self.duplex.stats
        reason = self.end_reason.value if self.end_reason else "open"
        ended = self.ended_at if self.ended_at is not None else now
        return (
            f"{self.label}: gdb {self.gdb.peer or '(never connected)'}, "
            f"kernel->gdb {self.gdb.bytes_to_gdb} bytes in {st.delivered} messages "
            f"({st.duplicates} duplicates, {st.out_of_order} out of order), "
            f"gdb->kernel {self.gdb.bytes_from_gdb} bytes in {st.sent} messages "
            f"({st.retransmissions} retransmissions), {ended - self.started:.1f} s, "
            f"ended: {reason}"
        )

    # -- internals -------------------------------------------------------------

    def _events(self, now: float) -> None:
        while (ev := self.duplex.next_event()) is not None:
            if isinstance(ev, StreamData):
                self._stream(ev, now)
            elif isinstance(ev, PeerFinished):
                self._end(EndReason.KERNEL_FINISHED, now)
            elif isinstance(ev, PeerSilent):
                self._end(EndReason.KERNEL_SILENT, now)
            elif isinstance(ev, SendFailed):
                self._end(EndReason.SEND_FAILED, now)
            elif isinstance(ev, SessionClosed):
                self._end(EndReason.SHUTDOWN, now)

    def _end(self, reason: EndReason, now: float) -> None:
        self._release()
        if self.end_reason is None:
            self.end_reason = reason
            self.ended_at = now
            log.info("%s: %s", self.label, reason.value)
