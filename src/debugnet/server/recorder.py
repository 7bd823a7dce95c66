"""netdumpd's dump policy, without sockets or clocks: events in, storage calls out.

A ``DumpRecorder`` sits between one ``ServerSession`` and one ``DumpSink``.
The I/O shell hands it every event the session produces; the recorder writes
data and keys, checks the KDH, names the vmcore for its compression and
encryption, writes the info lines netdumpd writes, makes the dump durable
before FINISHED is acked, and reports how the dump ended as an ``Outcome``
(the word the handler script gets). It reads no clock: ``now`` is passed in.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from debugnet.server.store import DumpLimitReached, DumpRequest, DumpSink, DumpStore, StorageError
from debugnet.transport.server_events import (
    DataReceived,
    DataRunReceived,
    FinishRequested,
    KdhReceived,
    KeyReceived,
    ServerEvent,
    SessionTimedOut,
)
from debugnet.transport.server_session import ServerSession, SessionState
from debugnet.wire.kdh import KDH_SIZE, KernelDumpHeader

log = logging.getLogger(__name__)

_OVER = (SessionState.DONE, SessionState.TIMED_OUT, SessionState.FAILED)
_SUFFIXED = ("gzip", "zstd")
"""Compressions a vmcore name has a suffix for; any other stays ``none``."""


class Outcome(StrEnum):
    """How a dump ended; the values are netdumpd's handler reasons."""

    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"


def format_holes(holes: list[tuple[int, int]], limit: int = 8) -> str:
    """``0x0-0x10, 0x20-0x30``: the first ``limit`` holes, then how many more."""
    shown = ", ".join(f"0x{s:x}-0x{e:x}" for s, e in holes[:limit])
    if len(holes) > limit:
        shown += f", ... ({len(holes) - limit} more)"
    return shown


class DumpRecorder:
    """Records one session's dump into a sink taken from a ``DumpStore``.

    Call ``open`` once (False: no dump could be created, do not ack the
    herald), then ``handle`` for every event; ``handle`` returns an
    ``Outcome`` exactly once, when the dump has ended. ``close`` releases the
    sink whatever happened.
    """

    def __init__(self, session: ServerSession, store: DumpStore, request: DumpRequest) -> None:
        self.session = session
        self.store = store
        self.request = request
        self.sink: DumpSink | None = None
        self.kdh: KernelDumpHeader | None = None
        self.outcome: Outcome | None = None
        self.verdict = ""  # the status line that ended the dump, for the end-of-dump log line
        self.label = request.client_ip

    # -- lifecycle -----------------------------------------------------------

    def open(self) -> bool:
        """Create the dump and write its first info line."""
        try:
            sink = self.store.create(self.request)
        except (DumpLimitReached, OSError):
            return False  # the store has said why
        host, ip = self.request.host, self.request.client_ip
        sink.info(b"Dump from %s [%s]\n" % (host.encode(), ip.encode()))
        self.sink = sink
        return True

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    # -- events --------------------------------------------------------------

    def handle(self, ev: ServerEvent, now: float) -> Outcome | None:
        """Act on one event; the Outcome when it ended the dump, else None."""
        sink = self.sink
        assert sink is not None, "handle before a successful open"
        if isinstance(ev, DataRunReceived):  # the hot path: a batch's contiguous run, inlined
            try:
                sink.write_at(ev.offset, ev.pieces, ev.length)
            except StorageError as exc:
                return self._storage_failed(exc)
            return None
        if isinstance(ev, DataReceived):
            try:
                sink.write_at(ev.offset, (ev.data,), len(ev.data))
            except StorageError as exc:
                return self._storage_failed(exc)
            return None
        if isinstance(ev, KdhReceived):
            self._on_kdh(sink, ev.raw)
        elif isinstance(ev, KeyReceived):
            try:
                sink.write_key(ev.offset, ev.data)
            except StorageError as exc:
                return self._storage_failed(exc)
        elif isinstance(ev, FinishRequested):
            return self._on_finish(sink, now)
        elif isinstance(ev, SessionTimedOut):
            return self._on_timeout(sink)
        return None  # SessionEnded: the linger is over, nothing to record

    def abort(self) -> Outcome | None:
        """The shell failed unexpectedly: end an unfinished dump as an error."""
        if self.session.state in _OVER or self.outcome is not None:
            return None
        self.session.fail()
        if self.sink is not None:
            self.sink.info(b"Dump unsuccessful: internal error\n")
        return self._ended(Outcome.ERROR, "unsuccessful, internal error")

    def compression(self) -> str:
        """The compression the KDH announces, if it is one a suffix exists for."""
        name = self.kdh.compression_name if self.kdh is not None else "none"
        return name if name in _SUFFIXED else "none"

    # -- policy --------------------------------------------------------------

    def _on_kdh(self, sink: DumpSink, raw: bytes) -> None:
        if len(raw) < KDH_SIZE:
            log.warning("%s: bad KDH: packet too small (%d bytes)", self.label, len(raw))
            sink.info(b"Bad KDH: packet too small\n")
            return
        kdh = KernelDumpHeader.parse(raw, lenient=True)  # netdumpd reads any version
        if kdh.version not in (1, 2, 3, 4):
            log.warning("%s: KDH version %d read as version 4", self.label, kdh.version)
        self.kdh = kdh
        sink.info(kdh.info_lines())
        if not kdh.parity_ok:
            log.warning("%s: KDH parity check failed", self.label)
        try:
            sink.set_format(encrypted=kdh.encrypted, compression=self.compression())
        except OSError as exc:
            log.error("%s: cannot rename %s: %s", self.label, sink.core_path, exc)

    def _on_finish(self, sink: DumpSink, now: float) -> Outcome | None:
        kdh = self.kdh
        compressed = self.compression() != "none"
        try:
            sink.sync(truncate_to=kdh.dumplength if compressed and kdh else None)
        except StorageError as exc:
            return self._storage_failed(exc)
        holes = self.session.missing(kdh.dumplength) if kdh is not None else []
        if holes:
            missing = sum(e - s for s, e in holes)
            line = f"Dump incomplete: {missing} bytes missing at {format_holes(holes)}\n"
            sink.info(line.encode())
            outcome, verdict = Outcome.ERROR, f"incomplete, {missing} bytes missing"
            log.warning("%s: dump incomplete: %d bytes missing", self.label, missing)
        else:
            sink.info(b"Dump complete\n")
            outcome, verdict = Outcome.SUCCESS, "complete"
        sink.publish()
        sink.close()
        self.session.confirm_finished(now)
        return self._ended(outcome, verdict)

    def _on_timeout(self, sink: DumpSink) -> Outcome | None:
        try:
            sink.sync()
        except StorageError as exc:
            return self._storage_failed(exc)  # what was received is not durable: say so
        sink.info(b"Dump incomplete: client timed out\n")
        return self._ended(Outcome.TIMEOUT, "incomplete, client timed out")

    def _storage_failed(self, exc: StorageError) -> Outcome | None:
        assert self.sink is not None
        log.error("%s: %s", self.label, exc)
        self.session.fail()
        self.sink.info(b"Dump unsuccessful: %s\n" % str(exc).encode())
        return self._ended(Outcome.ERROR, f"unsuccessful, {exc}")

    def _ended(self, outcome: Outcome, verdict: str) -> Outcome | None:
        if self.outcome is not None:
            return None
        self.outcome, self.verdict = outcome, verdict
        return outcome
