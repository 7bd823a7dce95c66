"""The dashboard's queries over a dump directory's catalogue.

Records, groups, merges and removals go through the catalogue's own
interface. The list's extra needs (offset paging, a panic-string search, a
count per filter, per-day and per-host aggregates) are SQL over the
catalogue's ``dumps`` table on a read-only connection of our own, so a page of
100,000 dumps costs one indexed query, not a Python loop.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from debugnet.catalogue import Catalogue, open_catalogue, sql
from debugnet.catalogue.dumpfiles import DumpFiles, LocalFiles
from debugnet.catalogue.jsonform import group_json, record_json
from debugnet.catalogue.sqlbase import _from_row as from_row
from debugnet.catalogue.sqlite import catalogue_path
from debugnet.errors import DebugnetError
from debugnet.web.source import DumpFile, DumpFilter, Record

log = logging.getLogger(__name__)

DAY = 86400
T = TypeVar("T")


def _where(f: DumpFilter, signatures: list[str] | None) -> tuple[str, list[Any]]:
    return sql.dump_filter(
        host=f.host,
        state=f.state,
        signatures=signatures,
        since=f.since,
        until=f.until,
        search=f.search,
    )


class CatalogueSource:
    """``DumpSource`` over the SQLite catalogue of one dump directory."""

    def __init__(
        self,
        dumpdir: Path,
        catalogue: Catalogue,
        reader: sqlite3.Connection,
        stored: DumpFiles | None = None,
    ) -> None:
        self._dir = dumpdir
        self.catalogue = catalogue
        self.stored = stored if stored is not None else LocalFiles(dumpdir)
        """The dumps' files: the directory, or the bucket the collectors write."""
        self._db = reader
        self._cache: dict[Hashable, tuple[int, Any]] = {}

    def _cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, reused until the catalogue changes.

        SQLite bumps ``PRAGMA data_version`` on this (read-only) connection
        whenever another connection commits, so a whole-catalogue aggregate is
        computed once per change, not once per page view.
        """
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return cast(T, hit[1])
        value = compute()
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = (version, value)
        return value

    @classmethod
    def open(cls, dumpdir: Path, stored: DumpFiles | None = None) -> CatalogueSource:
        catalogue = open_catalogue(dumpdir)  # creates or migrates the schema first
        uri = f"file:{catalogue_path(dumpdir)}?mode=ro"
        reader = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
        return cls(dumpdir, catalogue, reader, stored)

    def close(self) -> None:
        self._db.close()
        self.catalogue.close()
        self.stored.close()

    def dumpdir(self) -> Path:
        return self._dir

    def _signatures(self, f: DumpFilter) -> list[str] | None:
        if f.signature is None:
            return None
        members = getattr(self.catalogue, "signatures_of", None)
        return list(members(f.signature)) if members else [f.signature]

    # -- lists -----------------------------------------------------------------

    def dumps(self, f: DumpFilter, limit: int, offset: int) -> list[Record]:
        where, params = _where(f, self._signatures(f))
        # The catalogue's own SELECT and row reader: one query for the page, no per-row get.
        rows = self._db.execute(
            f"{sql.SELECT}{where} ORDER BY started DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [record_json(from_row(r)) for r in rows]

    def count(self, f: DumpFilter) -> int:
        where, params = _where(f, self._signatures(f))
        return int(self._db.execute(f"SELECT COUNT(*) FROM dumps{where}", params).fetchone()[0])

    def size(self) -> int:
        return self.catalogue.count()

    def states_since(self, since: float) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM dumps INDEXED BY dumps_started "
            "WHERE started >= ? GROUP BY state",
            (since,),
        )
        return {state: n for state, n in rows}

    def per_day(self, since: float, key: str | None = None) -> dict[str, dict[str, int]]:
        """Counts per UTC day from the start of ``since``'s day, by state, host or group."""
        first_day = int(since // DAY)
        return self._cached(("per_day", first_day, key), lambda: self._per_day(first_day, key))

    def _per_day(self, first_day: int, key: str | None) -> dict[str, dict[str, int]]:
        import datetime as dt

        # Host and signature counts come from their covering indexes; merged
        # signatures are folded onto their group's name here, not joined per row.
        column = {None: "state", "host": "host", "signature": "signature"}[key]
        index = {None: "dumps_started", "host": "dumps_host", "signature": "dumps_signature"}[key]
        rows = self._db.execute(
            f"SELECT CAST(started / {DAY} AS INTEGER) AS day, {column}, COUNT(*) "
            f"FROM dumps INDEXED BY {index} WHERE started >= ? GROUP BY 1, 2",
            (first_day * DAY,),
        )
        canonical = dict(self._db.execute("SELECT signature, canonical FROM signature_merges"))
        out: dict[str, dict[str, int]] = {}
        for day, value, n in rows:
            if value is None:
                continue
            label = dt.datetime.fromtimestamp(day * DAY, dt.UTC).date().isoformat()
            name = canonical.get(value, value) if key == "signature" else str(value)
            counts = out.setdefault(label, {})
            counts[name] = counts.get(name, 0) + n
        return out

    def hosts(self) -> list[Record]:
        return [dict(h) for h in self._cached("hosts", self._hosts)]

    def _hosts(self) -> list[Record]:
        rows = self._db.execute(
            "SELECT host, COUNT(*), MAX(started), "
            "(SELECT id FROM dumps d2 WHERE d2.host = d.host ORDER BY started DESC, id DESC "
            " LIMIT 1) FROM dumps d GROUP BY host ORDER BY MAX(started) DESC"
        )
        return [
            {"host": h, "count": n, "last_seen": last, "latest": latest}
            for h, n, last, latest in rows
        ]

    # -- groups ----------------------------------------------------------------

    def groups(self, since: float | None) -> list[Record]:
        if since is None:  # the pages' case: whole-catalogue, so reused until a change
            return [dict(g) for g in self._cached("groups", lambda: self._groups(None))]
        return self._groups(since)

    def _groups(self, since: float | None) -> list[Record]:
        return [group_json(g) for g in self.catalogue.groups(since)]

    def merge(self, a: str, b: str) -> None:
        self.catalogue.merge(a, b)

    # -- one dump --------------------------------------------------------------

    def dump(self, dump_id: str) -> Record | None:
        record = self.catalogue.get(dump_id)
        return None if record is None else record_json(record)

    def files(self, dump_id: str) -> list[DumpFile]:
        record = self.catalogue.get(dump_id)
        if record is None:
            return []
        out = []
        for name in record.files:
            try:
                size = self.stored.size(name)
            except DebugnetError as exc:
                log.warning("%s", exc)
                size = None
            path = self.stored.local_path(name)
            out.append(DumpFile(name, path, size or 0, size is not None))
        return out

    def open_file(self, name: str) -> BinaryIO:
        """A stream of one of a dump's files (a download from the bucket)."""
        return self.stored.open(name)

    def info_text(self, dump_id: str) -> str:
        record = self.catalogue.get(dump_id)
        names = [f for f in record.files if Path(f).name.startswith("info.")] if record else []
        if not names:
            return ""
        try:
            return self.stored.read(names[0], 1 << 20).decode(errors="replace")
        except DebugnetError as exc:
            return f"(cannot read the info file: {exc})"

    def msgbuf(self, dump_id: str) -> str | None:
        from debugnet.catalogue.actions import msgbuf

        record = self.catalogue.get(dump_id)
        if record is None or record.encrypted:
            return None
        try:
            return msgbuf(self.stored, record)
        except DebugnetError:
            return None

    def delete(self, dump_id: str) -> None:
        """Remove the dump's files and its record."""
        record = self.catalogue.get(dump_id)
        if record is not None:
            self.stored.delete(record)
        self.catalogue.remove([dump_id])
