"""Ended dumps into the catalogue and out as alerts, on a thread of their own.

When a dump ends, its record is read from its files (the source of truth:
the info file's outcome, the KDH fields, the message buffer's signature) and
put in the catalogue, then whether its signature is new is asked of the
catalogue, and the alert goes to the notifier. Reading a message buffer is
file I/O, so none of it happens on the session's thread: ``submit`` only
queues (bounded; a full queue drops with a warning, the files stay the truth
and ``debugnet dumps reindex`` recovers the record).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from debugnet.catalogue import Catalogue, DumpRecord, DumpState, Layout, ListQuery
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
        queue_size: int = 1000,
    ) -> None:
        self.dumpdir = dumpdir
        self.catalogue = catalogue
        self.alert = alert
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
        rel = os.path.relpath(ended.info_path.parent, self.dumpdir)
        found = Found(
            ended.info_path, "" if rel == "." else rel, ended.host, ended.index, Layout.NETDUMPD
        )
        record = record_from_files(self.dumpdir, found)
        record.ip = ended.client_ip
        now = time.time()  # the files' times say when it ended; the session says how long
        record.started, record.last_data, record.ended = now - ended.seconds, now, now
        known = self.catalogue.get(record.id)
        if known is None or known.state is DumpState.RECEIVING:
            self.catalogue.put(record)
        else:
            record = known
        new = False
        if record.signature is not None:
            same = self.catalogue.dumps(ListQuery(signature=record.signature, limit=2))
            new = all(r.id == record.id for r in same)
        if self.alert is not None:
            self.alert(dump_ended_of(record, new))
