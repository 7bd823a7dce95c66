"""The catalogue hooked into any ``DumpStore``: every dump a record, written as it happens.

``CataloguedStore`` wraps a store; each sink it hands out forwards every call
and tells a ``DumpHandle`` what happened: the dump's files, the KDH (from the
info lines the recorder writes, so the recorder needs no catalogue code), the
key, and the end line that fixes the state. Data writes are not wrapped at
all (``write_at`` is the inner sink's own bound method), so the receive path
pays nothing; the handle only queues work for the catalogue's writer thread.
Bytes received are the vmcore's size, read in that thread when the dump ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from debugnet.catalogue import Catalogue, CatalogueWriter, DumpRecord, Layout
from debugnet.catalogue.dumpfiles import DumpFiles, LocalFiles
from debugnet.catalogue.tracker import DumpHandle
from debugnet.errors import DebugnetError
from debugnet.storage.interface import Chunk, DumpLimitReached, DumpRequest, DumpSink, DumpStore
from debugnet.triage.info import DumpState, Reason, end_outcome, parse_info

log = logging.getLogger(__name__)

_KDH_LINE = b"  Architecture: "
_FLUSH_BEFORE_ACK = 2.0  # seconds the FINISHED ack may wait for the catalogue
_CLAIM_TRIES = 64


def handler_reason(state: DumpState, reason: str | None) -> str:
    """The word the recorder's policy gives the handler for this end."""
    if state is DumpState.COMPLETE:
        return "success"
    stopped = (Reason.TIMED_OUT.value, Reason.SERVER_STOPPED.value)  # as endings.py's table
    return "timeout" if reason in stopped else "error"


class CataloguedSink:
    """A ``DumpSink`` that reports to the catalogue what passes through it."""

    write_at: Callable[[int, Sequence[Chunk], int], None]

    def __init__(self, inner: DumpSink, handle: DumpHandle) -> None:
        self._inner = inner
        self._handle = handle
        self.write_at = inner.write_at  # the hot path: not wrapped
        self._info = bytearray()
        self._key = False
        self._ended = False

    @property
    def index(self) -> int:
        return self._inner.index

    @property
    def info_path(self) -> Path:
        return self._inner.info_path

    @property
    def core_path(self) -> Path:
        return self._inner.core_path

    def _files(self) -> list[Path]:
        files = [self._inner.info_path, self._inner.core_path]
        if self._key:
            files.append(self._inner.info_path.with_name("key" + self._inner.info_path.name[4:]))
        return files

    def write_key(self, offset: int, data: bytes) -> None:
        self._inner.write_key(offset, data)
        if not self._key:
            self._key = True
            self._handle.encrypted()
            self._handle.files(self._files())

    def info(self, line: bytes) -> None:
        self._inner.info(line)
        self._info += line
        if line.startswith(b"Bad KDH"):
            self._handle.bad_kdh()
            if not self._ended:  # the recorder writes it only as a dump's last line (endings.py)
                detail = line.decode("utf-8", "replace").strip().removeprefix("Bad KDH: ")
                self._end(DumpState.FAILED, f"{Reason.BAD_KDH.value}: {detail}")
        elif _KDH_LINE in line:
            self._handle.info_fields(parse_info(bytes(self._info)))
        elif not self._ended:
            outcome = end_outcome(line.decode("utf-8", "replace").rstrip("\n"))
            if outcome is not None:
                self._end(outcome.state, outcome.reason)

    def _end(self, state: DumpState, reason: str | None) -> None:
        self._ended = True
        total = getattr(self._inner, "bytes_received", None)  # stores without local files
        self._handle.end(state, reason, handler_reason(state, reason), total, time.time())

    def set_format(self, *, encrypted: bool, compression: str) -> None:
        self._inner.set_format(encrypted=encrypted, compression=compression)
        self._handle.files(self._files())

    def sync(self, truncate_to: int | None = None) -> None:
        self._inner.sync(truncate_to)

    def publish(self) -> None:
        self._inner.publish()
        # Before FINISHED is acked, so `debugnet dumps` finds the dump the moment
        # the client returns; bounded, so a catalogue that cannot write (its
        # writer retries) never holds the ack back for long.
        if not self._handle.flush(_FLUSH_BEFORE_ACK):
            log.warning("%s: catalogue record not written yet; acking anyway", self.core_path)

    def allocated(self) -> int:
        return self._inner.allocated()

    def close(self) -> None:
        self._inner.close()
        if not self._ended:  # ended without an end line: not a complete dump
            self._end(DumpState.INCOMPLETE, Reason.NO_END.value)


class CataloguedStore:
    """A ``DumpStore`` whose dumps are catalogued; the handler's exit status is matched back."""

    def __init__(
        self,
        inner: DumpStore,
        writer: CatalogueWriter,
        root: Path,
        *,
        collector: str = "",
        layout: str = Layout.NETDUMPD,
        progress_interval: float = 5.0,
        handler: bool = False,
        claims: Catalogue | None = None,
        files: DumpFiles | None = None,
    ) -> None:
        self.inner = inner
        self.files = files if files is not None else LocalFiles(root)
        """How the catalogue reads a finished dump back (its signature): the directory or bucket."""
        self.writer = writer
        self.root = root
        self.collector = collector
        self.layout = layout
        self.progress_interval = progress_interval
        self.handler = handler
        """Whether a handler runs after each dump (else no exit status is waited for)."""
        self._by_info: dict[Path, DumpHandle] = {}
        self.claims = claims
        """A catalogue connection of its own for claiming IDs (shared catalogues only)."""
        self._lock = threading.Lock()

    def _record(self, request: DumpRequest, sink: DumpSink) -> DumpRecord:
        directory = sink.info_path.parent
        if self.layout == Layout.SAVECORE:
            directory = directory.parent
        path = os.path.relpath(directory, self.root)
        return DumpRecord(
            host=request.host,
            index=sink.index,
            started=time.time(),
            path="" if path == "." else path,
            layout=self.layout,
            ip=request.client_ip,
            encrypted=False,
            collector=self.collector,
        )

    def _claimed(self, record: DumpRecord) -> bool:
        """Whether this collector may use the record's ID in a shared catalogue.

        Collectors sharing a database but not a directory each find
        ``<host>.<N>`` free on their own disk; the claim (one atomic insert)
        lets one of them have it. An unreachable database does not hold up
        the herald: the dump goes on and its record is written when it can.
        """
        if self.claims is None:
            return True
        try:
            return self.claims.claim(record)
        except DebugnetError as exc:
            log.warning("catalogue claim of %s failed (%s); going on", record.id, exc)
            return True

    def create(self, request: DumpRequest) -> CataloguedSink:
        for _ in range(_CLAIM_TRIES):
            sink = self.inner.create(request)
            record = self._record(request, sink)
            if self._claimed(record):
                break
            log.info("%s is a peer's in the catalogue; taking the next index", record.id)
            sink.close()
            for path in (sink.info_path, sink.core_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        else:
            raise DumpLimitReached(f"no index for {request.host} is free in the catalogue")
        handle = DumpHandle(self.writer, self.root, record, self.progress_interval, self.files)
        handle.files([sink.info_path, sink.core_path])
        if self.handler:
            with self._lock:
                self._by_info[sink.info_path] = handle
        return CataloguedSink(sink, handle)

    def free_bytes(self, request: DumpRequest | None = None) -> int:
        return self.inner.free_bytes(request)

    def check(self, request: DumpRequest) -> None:
        self.inner.check(request)

    def room(self, request: DumpRequest | None = None) -> int:
        return self.inner.room(request)

    def handler_exited(self, info: Path, status: int) -> None:
        """The handler run for the dump with this info file exited with ``status``."""
        with self._lock:
            handle = self._by_info.pop(info, None)
        if handle is not None:
            handle.handler_exited(status)
