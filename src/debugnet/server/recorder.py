"""netdumpd's dump policy, without sockets or clocks: events in, storage calls out.

A ``DumpRecorder`` sits between one ``ServerSession`` and one ``DumpSink``.
The I/O shell hands it every event the session produces; the recorder writes
data and keys, checks the KDH, names the vmcore for its compression and
encryption, writes the info lines netdumpd writes, makes the dump durable
before FINISHED is acked, and reports how the dump ended as an ``Outcome``
(the word the handler script gets). It reads no clock: ``now`` is passed in.
"""

from __future__ import annotations

import dataclasses
import logging

from debugnet.server.endings import Ending, Outcome, escape, escape_version
from debugnet.storage.interface import (
    DumpLimitReached,
    DumpRequest,
    DumpSink,
    DumpStore,
    StorageCutShort,
    StorageError,
)
from debugnet.storage.limits import DumpLimits
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

__all__ = ["DumpRecorder", "Ending", "Outcome", "format_holes"]

log = logging.getLogger(__name__)

_OVER = (SessionState.DONE, SessionState.TIMED_OUT, SessionState.FAILED)
_SUFFIXED = ("gzip", "zstd")
"""Compressions a vmcore name has a suffix for; any other stays ``none``."""
_NO_END = 1 << 80
"""Past any offset the wire can carry: no limit."""
_CHECK_EVERY_EVENTS = 1024
"""Data events between two checks of fragmentation and free space."""
_CHECK_EVERY_BYTES = 64 << 20
"""Bytes received between two such checks, whichever comes first."""
INFO_LIMIT = 64 * 1024
"""Bytes of info lines before the last one; past it only the ending's line is written."""


def format_holes(holes: list[tuple[int, int]], limit: int = 8) -> str:
    """``0x0-0x10, 0x20-0x30``: the first ``limit`` holes, then how many more."""
    shown = ", ".join(f"0x{s:x}-0x{e:x}" for s, e in holes[:limit])
    if len(holes) > limit:
        shown += f", ... ({len(holes) - limit} more)"
    return shown


def kdh_block(kdh: KernelDumpHeader) -> bytes:
    """The KDH's info lines with the client's strings escaped: no string forges a line."""
    safe = dataclasses.replace(
        kdh,
        architecture=escape(kdh.architecture),
        hostname=escape(kdh.hostname),
        versionstring=escape_version(kdh.versionstring),
        panicstring=escape(kdh.panicstring),
    )
    return safe.info_lines()


class DumpRecorder:
    """Records one session's dump into a sink taken from a ``DumpStore``.

    A session becomes a dump when its first KDH, key or DATA arrives: only
    then does ``handle`` ``open`` it (take an index, create the files). A
    herald-only session (forged heralds, a client that gave up, a FINISHED
    with nothing before it) leaves nothing on disk, runs no handler and ends
    with no ``Ending``; ``herald_only`` says so. ``handle`` returns an
    ``Ending`` exactly once for a dump, when it has ended. ``close``
    releases the sink whatever happened.
    """

    def __init__(
        self,
        session: ServerSession,
        store: DumpStore,
        request: DumpRequest,
        limits: DumpLimits | None = None,
    ) -> None:
        self.session = session
        self.limits = limits or DumpLimits()
        self._end_limit = self.limits.max_dump_size or _NO_END
        """No data may end past this: the size limit, or the KDH's length plus a block."""
        self._check_events = _CHECK_EVERY_EVENTS
        self._check_bytes = _CHECK_EVERY_BYTES
        self.store = store
        self.request = request
        self.sink: DumpSink | None = None
        self.kdh: KernelDumpHeader | None = None
        self.ending: Ending | None = None
        self.label = request.client_ip
        self.stop_ending = Ending.TIMED_OUT
        """What a timeout the shell forces means: a restart, or the server stopping."""
        self._kdh_raw: bytes | None = None
        self._kdh_written: KernelDumpHeader | None = None
        self._kdh_changes = 0
        self._bad_kdh: str | None = None
        self._info_bytes = 0
        self._detail = ""
        self.herald_only = False
        """Set when the session ended without ever becoming a dump."""

    @property
    def verdict(self) -> str:
        """The ending's line in the end-of-dump log line: ``incomplete, client timed out``."""
        if self.ending is None:
            return ""
        line = self.ending.line(self._detail).decode("utf-8", "replace").strip()
        return line.removeprefix("Dump ").replace(": ", ", ", 1)

    @property
    def outcome(self) -> Outcome | None:
        """The handler word of the ending, once there is one."""
        return self.ending.handler if self.ending is not None else None

    # -- lifecycle -----------------------------------------------------------

    def open(self) -> bool:
        """Create the dump and write its first info line; False if the store could not."""
        try:
            sink = self.store.create(self.request)
        except (DumpLimitReached, OSError):
            return False  # the store has said why
        self.sink = sink
        host, ip = escape(self.request.host), escape(self.request.client_ip)
        self._info(f"Dump from {host} [{ip}]\n".encode())
        log.info("%s: dump from %s [%s] started -> %s", self.label, host, ip, sink.core_path)
        return True

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    # -- events --------------------------------------------------------------

    def handle(self, ev: ServerEvent, now: float) -> Ending | None:
        """Act on one event; the Ending when it ended the dump, else None."""
        sink = self.sink
        if sink is None:
            sink = self._become_dump(ev, now)
            if sink is None:
                return None
        if isinstance(ev, DataRunReceived):  # the hot path: a batch's contiguous run, inlined
            if ev.offset + ev.length > self._end_limit:
                return self._past_end(ev.offset + ev.length)
            try:
                sink.write_at(ev.offset, ev.pieces, ev.length)
            except StorageError as exc:
                return self._storage_failed(exc)
            self._check_events -= 1
            if self._check_events <= 0 or self.session.stats.data_bytes >= self._check_bytes:
                return self._check_space(sink)
            return None
        if isinstance(ev, DataReceived):
            if ev.offset + len(ev.data) > self._end_limit:
                return self._past_end(ev.offset + len(ev.data))
            try:
                sink.write_at(ev.offset, (ev.data,), len(ev.data))
            except StorageError as exc:
                return self._storage_failed(exc)
            self._check_events -= 1
            if self._check_events <= 0 or self.session.stats.data_bytes >= self._check_bytes:
                return self._check_space(sink)
            return None
        if isinstance(ev, KdhReceived):
            return self._on_kdh(sink, ev.raw)
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

    def _become_dump(self, ev: ServerEvent, now: float) -> DumpSink | None:
        """The first KDH, key or data makes the session a dump; anything else ends it as none."""
        if isinstance(ev, (DataRunReceived, DataReceived, KdhReceived, KeyReceived)):
            if self.session.state is SessionState.OPEN and not self.open():
                self.session.fail()  # no dump to write into: ack nothing more
            return self.sink
        if isinstance(ev, FinishRequested):
            self.session.confirm_finished(now)  # nothing to make durable
            self._herald_only("FINISHED with nothing before it")
        elif isinstance(ev, SessionTimedOut) and not self.herald_only:
            self._herald_only(f"ended ({self.stop_ending.name.lower().replace('_', ' ')})")
        return None

    def _herald_only(self, how: str) -> None:
        self.herald_only = True
        log.info("%s: herald-only session %s; no dump", self.label, how)

    def abort(self) -> Ending | None:
        """The shell failed unexpectedly: end an unfinished dump as an internal error."""
        if self.session.state in _OVER or self.ending is not None or self.sink is None:
            return None
        self.session.fail()
        return self._ended(Ending.INTERNAL_ERROR)

    def compression(self) -> str:
        """The compression the KDH announces, if it is one a suffix exists for."""
        name = self.kdh.compression_name if self.kdh is not None else "none"
        return name if name in _SUFFIXED else "none"

    # -- policy --------------------------------------------------------------

    def _info(self, line: bytes, *, last: bool = False) -> None:
        """Append to the info file within its bound; the ending's line always fits."""
        if not last and self._info_bytes + len(line) > INFO_LIMIT:
            return
        self._info_bytes += len(line)
        assert self.sink is not None
        self.sink.info(line)

    def _on_kdh(self, sink: DumpSink, raw: bytes) -> Ending | None:
        """The first KDH is written at once; a repeat is ignored, a new one kept for the end."""
        if len(raw) < KDH_SIZE:
            log.warning("%s: bad KDH: packet too small (%d bytes)", self.label, len(raw))
            self._bad_kdh = "packet too small"
            return None
        raw = raw[:KDH_SIZE]
        if raw == self._kdh_raw:
            return None  # a retransmitted or repeated header says nothing new
        kdh = KernelDumpHeader.parse(raw, lenient=True)  # netdumpd reads any version
        if self._kdh_raw is not None:
            self._kdh_changes += 1
            if self._kdh_changes == 1:
                log.warning("%s: a different KDH arrived; the newest is recorded", self.label)
        elif kdh.version not in (1, 2, 3, 4):
            log.warning("%s: KDH version %d read as version 4", self.label, kdh.version)
        self._kdh_raw = raw
        self.kdh = kdh
        # A header announcing no length (0, as test clients send) limits nothing.
        end = kdh.dumplength + max(kdh.blocksize, 512) if kdh.dumplength > 0 else _NO_END
        self._end_limit = min(self.limits.max_dump_size or _NO_END, end)
        if self._kdh_written is None:
            self._kdh_written = kdh
            self._info(kdh_block(kdh))
        if not kdh.parity_ok:
            log.warning("%s: KDH parity check failed", self.label)
        try:
            sink.set_format(encrypted=kdh.encrypted, compression=self.compression())
        except OSError as exc:
            log.error("%s: cannot rename %s: %s", self.label, sink.core_path, exc)
        to_come = kdh.dumplength - self.session.stats.data_bytes
        if to_come > 0 and to_come > self.store.room(self.request):
            return self._limit(
                f"the dump's length ({kdh.dumplength} bytes) does not fit above the disk floor"
            )
        return None

    def _past_end(self, end: int) -> Ending | None:
        kdh = self.kdh
        reason = self.limits.past_end(
            end, kdh.dumplength if kdh and kdh.dumplength > 0 else None, kdh.blocksize if kdh else 0
        )
        return self._limit(reason or f"data past the limit at offset {end}")

    def _check_space(self, sink: DumpSink) -> Ending | None:
        """Every so many writes: fragmentation and the disk floor."""
        session = self.session
        received = session.stats.data_bytes
        self._check_events = _CHECK_EVERY_EVENTS
        self._check_bytes = received + _CHECK_EVERY_BYTES
        if self.limits.fragmented(len(session.ranges), received, sink.allocated()):
            return self._limit("too fragmented")
        if self.store.room(self.request) < 0:
            return self._limit("disk floor reached")
        return None

    def _limit(self, reason: str) -> Ending | None:
        """A guard ends the dump: nothing more is acked, what came is kept and said."""
        log.warning("%s: dump ended: %s", self.label, reason)
        self.session.fail()
        assert self.sink is not None
        try:
            self.sink.sync()
        except StorageError as exc:
            log.error("%s: %s", self.label, exc)
        return self._ended(Ending.LIMIT, reason)

    def _finish_info(self) -> None:
        """Before the ending's line: the newest KDH if it changed after the first was written."""
        kdh = self.kdh
        if kdh is not None and kdh is not self._kdh_written:
            self._info(
                b"KDH changed %d times during the dump; the newest:\n%s"
                % (self._kdh_changes, kdh_block(kdh))
            )
            self._kdh_written = kdh

    def _judge(self) -> tuple[Ending, str]:
        """The ending of a dump whose client sent FINISHED, and its detail."""
        session, kdh = self.session, self.kdh
        if not session.ranges:
            return Ending.NO_DATA, ""
        if kdh is None and self._bad_kdh is not None:
            return Ending.BAD_KDH, self._bad_kdh
        announced = kdh is not None and kdh.dumplength > 0
        end = (
            kdh.dumplength if kdh is not None and announced else max(e for _s, e in session.ranges)
        )
        holes = session.missing(end)
        if holes:
            missing = sum(e - s for s, e in holes)
            log.warning("%s: dump incomplete: %d bytes missing", self.label, missing)
            return Ending.HOLES, f"{missing} bytes missing at {format_holes(holes)}"
        if kdh is None:
            self._info(b"No kernel dump header\n")
        return Ending.COMPLETE, ""

    def _on_finish(self, sink: DumpSink, now: float) -> Ending | None:
        kdh = self.kdh
        compressed = self.compression() != "none"
        try:
            sink.sync(truncate_to=kdh.dumplength if compressed and kdh else None)
        except StorageError as exc:
            return self._storage_failed(exc)
        ending, detail = self._judge()
        self._finish_info()
        self._info(ending.line(detail), last=True)
        sink.publish()
        sink.close()
        self.session.confirm_finished(now)
        return self._ended(ending, detail, written=True)

    def _on_timeout(self, sink: DumpSink) -> Ending | None:
        try:
            sink.sync()
        except StorageError as exc:
            return self._storage_failed(exc)  # what was received is not durable: say so
        return self._ended(self.stop_ending)

    def _storage_failed(self, exc: StorageError) -> Ending | None:
        log.error("%s: %s", self.label, exc)
        self.session.fail()
        if isinstance(exc, StorageCutShort):  # the store's limit, not a failed write
            return self._ended(Ending.LIMIT, exc.reason)
        return self._ended(Ending.WRITE_ERROR, str(exc))

    def _ended(self, ending: Ending, detail: str = "", *, written: bool = False) -> Ending | None:
        """Record the ending once: its info line (unless written already), and return it."""
        if self.ending is not None:
            return None
        if not written and self.sink is not None:
            self._finish_info()
            self._info(ending.line(detail), last=True)
        self.ending, self._detail = ending, detail
        return ending
