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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from debugnet.catalogue import Catalogue, DumpRecord, open_catalogue
from debugnet.catalogue.sqlite import catalogue_path
from debugnet.web.source import DumpFile, DumpFilter, Record

log = logging.getLogger(__name__)

DAY = 86400


def record_json(record: DumpRecord) -> Record:
    """A dump as ``debugnet dumps ... --json`` prints it: ``id`` first, then every field."""
    out: Record = {"id": record.id}
    out.update(asdict(record))
    out["state"] = record.state.value
    return out


def _where(f: DumpFilter, signatures: list[str] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.host is not None:
        clauses.append("host = ?")
        params.append(f.host)
    if f.state is not None:
        clauses.append("state = ?")
        params.append(f.state)
    if signatures is not None:
        clauses.append(f"signature IN ({', '.join('?' for _ in signatures)})")
        params += signatures
    if f.since is not None:
        clauses.append("started >= ?")
        params.append(f.since)
    if f.until is not None:
        clauses.append("started < ?")
        params.append(f.until)
    if f.search:
        escaped = f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("panic LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class CatalogueSource:
    """``DumpSource`` over the SQLite catalogue of one dump directory."""

    def __init__(self, dumpdir: Path, catalogue: Catalogue, reader: sqlite3.Connection) -> None:
        self._dir = dumpdir
        self.catalogue = catalogue
        self._db = reader

    @classmethod
    def open(cls, dumpdir: Path) -> CatalogueSource:
        catalogue = open_catalogue(dumpdir)  # creates or migrates the schema first
        uri = f"file:{catalogue_path(dumpdir)}?mode=ro"
        reader = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
        return cls(dumpdir, catalogue, reader)

    def close(self) -> None:
        self._db.close()
        self.catalogue.close()

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
        ids = self._db.execute(
            f"SELECT id FROM dumps{where} ORDER BY started DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        records = (self.catalogue.get(i) for (i,) in ids)
        return [record_json(r) for r in records if r is not None]

    def count(self, f: DumpFilter) -> int:
        where, params = _where(f, self._signatures(f))
        return int(self._db.execute(f"SELECT COUNT(*) FROM dumps{where}", params).fetchone()[0])

    def size(self) -> int:
        return self.catalogue.count()

    def states_since(self, since: float) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM dumps WHERE started >= ? GROUP BY state", (since,)
        )
        return {state: n for state, n in rows}

    def per_day(self, since: float, key: str | None = None) -> dict[str, dict[str, int]]:
        import datetime as dt

        column = {
            None: "d.state",
            "host": "d.host",
            "signature": "COALESCE(m.canonical, d.signature)",
        }[key]
        rows = self._db.execute(
            f"SELECT CAST(d.started / {DAY} AS INTEGER) AS day, {column}, COUNT(*) "
            "FROM dumps d LEFT JOIN signature_merges m ON m.signature = d.signature "
            "WHERE d.started >= ? GROUP BY day, 2",
            (since,),
        )
        out: dict[str, dict[str, int]] = {}
        for day, value, n in rows:
            label = dt.datetime.fromtimestamp(day * DAY, dt.UTC).date().isoformat()
            out.setdefault(label, {})[str(value)] = n
        return out

    def hosts(self) -> list[Record]:
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
        out = []
        for g in self.catalogue.groups(since):
            latest = self.catalogue.get(g.latest)
            out.append(
                {
                    "signature": g.signature,
                    "count": g.count,
                    "hosts": g.hosts,
                    "first_seen": g.first_seen,
                    "last_seen": g.last_seen,
                    "latest": g.latest,
                    "members": g.titles,
                    "panic": latest.panic if latest is not None else None,
                }
            )
        return out

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
            path = self._dir / name
            try:
                size, exists = path.stat().st_size, path.is_file()
            except OSError:
                size, exists = 0, False
            out.append(DumpFile(name, path, size, exists))
        return out

    def _file(self, dump_id: str, prefix: str) -> Path | None:
        for f in self.files(dump_id):
            if Path(f.name).name.startswith(prefix) and f.exists:
                return f.path
        return None

    def info_text(self, dump_id: str) -> str:
        path = self._file(dump_id, "info.")
        if path is None:
            return ""
        return path.read_bytes()[: 1 << 20].decode(errors="replace")

    def msgbuf(self, dump_id: str) -> str | None:
        from debugnet.catalogue.files import message_buffer_of

        record = self.catalogue.get(dump_id)
        core = self._file(dump_id, "vmcore")
        if record is None or core is None or record.encrypted:
            return None
        return message_buffer_of(core, record.compression or "none")

    def delete(self, dump_id: str) -> None:
        """Remove the dump's files and its record."""
        for f in self.files(dump_id):
            try:
                f.path.unlink()
            except FileNotFoundError:
                pass
        self.catalogue.remove([dump_id])
