"""Ended dumps out as alerts, with their catalogue record, on a thread of their own.

The server catalogues every dump as it arrives (server/catalogued.py); its
writer thread computes the signature when the dump ends. For each ended dump
the feed waits for that writer to have written what was queued, reads the
record, asks the catalogue whether the signature is new and hands the alert
to the notifier. A server run without a catalogue (``--no-catalogue``) gets
the record from the files instead (the info file's outcome, the KDH fields,
the message buffer's signature), and the feed puts it in the catalogue the
dashboard reads. None of this happens on the session's thread: ``submit``
only queues (bounded; a full queue drops with a warning).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from debugnet.catalogue import (
    Catalogue,
    CatalogueWriter,
    DumpRecord,
    Layout,
    ListQuery,
    dump_id,
)
from debugnet.catalogue.files import Found, record_from_files
from debugnet.server.monitor import Ended
from debugnet.server.notify import DumpEnded

log = logging.getLogger(__name__)


def dump_ended_of(record: DumpRecord, new_signature: bool) -> DumpEnded:
    return DumpEnded(
        id=record.id,
        host=record.host,
        ip=record.ip or "",
        state=record.state.value,
        reason=record.reason,
        signature=record.signature,
        new_signature=new_signature,
        bytes=record.bytes,
        panic=record.panic,
    )


class EndedFeed:
    """The thread that records ended dumps and raises alerts."""

    def __init__(
        self,
        dumpdir: Path,
        catalogue: Catalogue,
        alert: Callable[[DumpEnded], None] | None = None,
        *,
        writer: CatalogueWriter | None = None,
        layout: str = Layout.NETDUMPD,
        queue_size: int = 1000,
    ) -> None:
        self.dumpdir = dumpdir
        self.catalogue = catalogue
        self.alert = alert
        self.writer = writer
        """The server's catalogue writer; None when the server keeps no catalogue."""
        self.layout = layout
        self._queue: queue.Queue[Ended | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="ended-feed", daemon=True)
        self._thread.start()

    def submit(self, ended: Ended) -> None:
        """A Monitor listener: queue and return."""
        try:
            self._queue.put_nowait(ended)
        except queue.Full:
            log.warning("%s: feed queue full; not catalogued or alerted", ended.info_path)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (ended := self._queue.get()) is not None:
            try:
                self._one(ended)
            except Exception:
                log.exception("%s: cannot catalogue the ended dump", ended.info_path)

    def _one(self, ended: Ended) -> None:
        directory = ended.info_path.parent
        if self.layout == Layout.SAVECORE:
            directory = directory.parent  # savecore: <path>/<host>/info.N
        rel = os.path.relpath(directory, self.dumpdir)
        path = "" if rel == "." else rel
        record: DumpRecord | None = None
        if self.writer is not None:
            if not self.writer.flush(30.0):
                log.warning("%s: catalogue writer busy; alert from the files", ended.info_path)
            record = self.catalogue.get(dump_id(path, ended.host, ended.index))
        if record is None:
            record = self._from_files(ended, path)
        new = False
        if record.signature is not None:
            same = self.catalogue.dumps(ListQuery(signature=record.signature, limit=2))
            new = all(r.id == record.id for r in same)
        if self.alert is not None:
            self.alert(dump_ended_of(record, new))

    def _from_files(self, ended: Ended, path: str) -> DumpRecord:
        found = Found(ended.info_path, path, ended.host, ended.index, self.layout)
        record = record_from_files(self.dumpdir, found)
        record.ip = ended.client_ip
        now = time.time()  # the files' times say when it ended; the session says how long
        record.started, record.last_data, record.ended = now - ended.seconds, now, now
        if self.writer is None:
            self.catalogue.put(record)
        return record
