"""What a server tells the catalogue while a dump arrives, without waiting for it.

The server's recorder calls a ``DumpHandle`` as the dump progresses; every
call only queues a closure for the ``CatalogueWriter`` thread, and progress
is sent at most once per ``progress_interval`` seconds, so the receive loop
never waits for SQLite. The signature is computed in the writer thread at the
end (it reads the vmcore's first pages, from the directory or the bucket).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

from debugnet.catalogue.base import Catalogue
from debugnet.catalogue.dumpfiles import DumpFiles, LocalFiles, signature_in
from debugnet.catalogue.files import bytes_on_disk
from debugnet.catalogue.record import DumpRecord
from debugnet.catalogue.writer import CatalogueWriter
from debugnet.triage.info import (
    INTERRUPTED_LINE,
    DumpState,
    InfoFile,
    Outcome,
    Reason,
    parse_info,
)
from debugnet.wire.kdh import KernelDumpHeader

log = logging.getLogger(__name__)


class DumpHandle:
    """One dump's record as it is being received."""

    def __init__(
        self,
        writer: CatalogueWriter,
        dumpdir: Path,
        record: DumpRecord,
        interval: float,
        files: DumpFiles | None = None,
    ) -> None:
        self._writer = writer
        self._dumpdir = dumpdir
        self._files = files if files is not None else LocalFiles(dumpdir)
        """Where the vmcore is read back for the signature: the directory or the bucket."""
        self.record = record
        self._interval = interval
        self._next_progress = record.started + interval
        self._submit()

    def _submit(self) -> None:
        snapshot = dataclasses.replace(self.record, files=list(self.record.files))
        self._writer.submit(lambda cat: cat.put(snapshot))

    def _relative(self, paths: list[Path]) -> list[str]:
        return [os.path.relpath(p, self._dumpdir) for p in paths]

    def files(self, paths: list[Path]) -> None:
        """The dump's files now (after a rename for compression or encryption)."""
        self.record.files = self._relative(paths)
        self._submit()

    def kdh(self, kdh: KernelDumpHeader) -> None:
        r = self.record
        r.kdh_version, r.length = kdh.version, kdh.dumplength
        r.architecture, r.architecture_version = kdh.architecture, kdh.architectureversion
        r.version_string, r.panic = kdh.versionstring.rstrip("\n"), kdh.panicstring
        r.dumptime, r.hostname = kdh.dumptime, kdh.hostname
        r.compression, r.encrypted, r.parity_ok = kdh.compression_name, kdh.encrypted, kdh.parity_ok
        self._submit()

    def info_fields(self, info: InfoFile) -> None:
        """The KDH as the info file states it (what a store sees of it)."""
        r = self.record
        r.length, r.architecture = info.length, info.architecture
        r.architecture_version, r.version_string = info.architecture_version, info.version_string
        r.panic, r.dumptime, r.hostname = info.panic, info.dumptime, info.hostname
        r.compression, r.parity_ok = info.compression or "none", info.parity_ok
        self._submit()

    def encrypted(self) -> None:
        self.record.encrypted = True
        self._submit()

    def data(self, total: int, now: float) -> None:
        """Bytes written so far; stored at most once per interval."""
        self.record.bytes, self.record.last_data = total, now
        if now >= self._next_progress:
            self._next_progress = now + self._interval
            self._submit()

    def bad_kdh(self) -> None:
        self.record.reason = Reason.BAD_KDH.value

    def end(
        self,
        state: DumpState,
        reason: str | None,
        handler: str | None,
        total: int | None,
        now: float,
    ) -> None:
        """The final state; the signature (and, if ``total`` is None, the vmcore's size as
        the bytes received) follow from the writer thread."""
        r = self.record
        r.state, r.ended, r.handler = state, now, handler
        if total is not None:
            r.bytes = total
        if state is DumpState.COMPLETE and r.reason == Reason.BAD_KDH.value:
            r.state = DumpState.INCOMPLETE
        elif reason is not None or state is not DumpState.COMPLETE:
            r.reason = reason
        self._submit()
        files, dump_id = self._files, r.id
        core = next((f for f in r.files if Path(f).name.startswith("vmcore")), None)
        panic, compression = r.panic, r.compression or "none"

        def sign(cat: Catalogue) -> None:
            sig = signature_in(files, core, panic, compression)
            changes: dict[str, object] = {"signature": sig.title, "signature_version": sig.version}
            local = files.local_path(core) if core is not None else None
            if total is None and local is not None:
                try:
                    st = os.stat(local)
                    changes.update(bytes=bytes_on_disk(st), last_data=st.st_mtime)
                except OSError as exc:
                    log.debug("%s: %s", local, exc)
            cat.update(dump_id, **changes)

        self._writer.submit(sign)

    def flush(self, timeout: float) -> bool:
        """Wait until what was told so far is in the catalogue; False on timeout."""
        return self._writer.flush(timeout)

    def handler_exited(self, status: int) -> None:
        dump_id = self.record.id
        self._writer.submit(lambda cat: cat.update(dump_id, handler_status=status))


def _append_interrupted(info: Path) -> None:
    with open(info, "ab") as out:
        out.write(INTERRUPTED_LINE)


def recover_interrupted(
    catalogue: Catalogue,
    dumpdir: Path,
    collector: str,
    now: float,
    mark: Callable[[Path], None] | None = None,
) -> list[DumpRecord]:
    """Dumps this collector was receiving when it died: marked, their info files told.

    A record whose info file already has an end line (the dump ended but the
    catalogue could not be told: a full disk) takes its state from the file,
    which is the source of truth; its handler has run. Each other one gets
    ``Dump incomplete: server stopped while receiving`` appended to its info
    file (by ``mark``, for a store that is not a directory) and the state
    ``incomplete: interrupted``; the caller runs the handler with ``error``
    for each record returned.
    """
    marked = []
    for record in catalogue.receiving(collector):
        names = [f for f in record.files if Path(f).name.startswith("info.")]
        info = dumpdir / names[0] if names else None
        ended = _ended_in_file(info) if info is not None else None
        if ended is not None:
            record.state, record.reason = ended.state, ended.reason
            record.ended = now
            catalogue.put(record)
            continue
        if info is not None:
            try:
                (mark or _append_interrupted)(info)
            except OSError as exc:
                log.error("cannot mark %s interrupted: %s", info, exc)
        record.state, record.reason = DumpState.INCOMPLETE, Reason.INTERRUPTED.value
        record.ended, record.handler = now, "error"
        catalogue.put(record)
        log.warning("dump %s was interrupted (server stopped while receiving)", record.id)
        marked.append(record)
    return marked


def _ended_in_file(info: Path) -> Outcome | None:
    try:
        parsed = parse_info(info.read_bytes())
    except OSError:
        return None
    return parsed.outcome if parsed.end_line is not None else None
