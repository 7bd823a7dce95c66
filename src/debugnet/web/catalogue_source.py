"""The dashboard's queries over a catalogue: a dump directory's SQLite, an SQLite file,
or a PostgreSQL database shared by many collectors.

Records, groups, merges and removals go through the catalogue's own
interface. The list's extra needs (offset paging, a panic-string search, a
count per filter, per-day and per-host aggregates) are SQL over the
catalogue's ``dumps`` table, so a page of 100,000 dumps costs one indexed
query, not a Python loop. That SQL goes through a ``_Reader``, the little
that differs between the backends: where rows come from, what says the
catalogue changed (for the cache), index hints and the dialect.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar, cast

from debugnet.catalogue import Catalogue, open_catalogue_at, sql
from debugnet.catalogue.base import CatalogueUnavailable
from debugnet.catalogue.dumpfiles import DumpFiles, LocalFiles
from debugnet.catalogue.jsonform import group_json, record_json
from debugnet.catalogue.postgres import PostgresCatalogue
from debugnet.catalogue.record import DumpRecord
from debugnet.catalogue.sqlbase import Dialect, from_row
from debugnet.catalogue.sqlite import SQLITE, SqliteCatalogue
from debugnet.errors import DebugnetError, InvalidArgument, NoEntry
from debugnet.web.source import DumpFile, DumpFilter, Record

log = logging.getLogger(__name__)

DAY = 86400
RETRY_FOR = 15.0
"""Seconds a page waits for a lost PostgreSQL connection to come back."""
T = TypeVar("T")


class _Reader(Protocol):
    """The dashboard's own read queries over one backend."""

    dialect: Dialect

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query in the portable SQL (``?`` placeholders)."""
        ...

    def version(self) -> Hashable:
        """A value that changes whenever any connection commits a change."""
        ...

    def hint(self, index: str) -> str:
        """`` INDEXED BY index`` where the planner needs telling, else nothing."""
        ...

    def close(self) -> None: ...


class _SqliteReader:
    """A read-only connection of our own to the SQLite file.

    Its own connection because ``PRAGMA data_version`` changes only for
    commits by *other* connections, the catalogue's included.
    """

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        uri = f"file:{path}?mode=ro"
        self._db = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(text, params).fetchall()

    def version(self) -> Hashable:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def hint(self, index: str) -> str:
        # SQLite's planner picks a worse index for these aggregates without the hint.
        return f" INDEXED BY {index}"

    def close(self) -> None:
        self._db.close()


# Where the server's write-ahead log ends: it moves on every commit, in any
# session, and a role needs no privilege to ask. A hot standby reports how far
# it has replayed instead (the other function fails in recovery).
_WAL_POSITION = (
    "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text "
    "ELSE pg_current_wal_insert_lsn()::text END"
)


class _PostgresReader:
    """Queries through the shared catalogue itself, so they reconnect with backoff too."""

    def __init__(self, catalogue: PostgresCatalogue, ttl: float = 5.0) -> None:
        self._cat = catalogue
        self.dialect = catalogue.dialect
        self._ttl = ttl
        self._use_wal = True

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._cat.rows(text, params)

    def version(self) -> Hashable:
        """The WAL position; where that is refused (a locked-down server), a short TTL."""
        if self._use_wal:
            try:
                return str(self._cat.rows(_WAL_POSITION)[0][0])
            except CatalogueUnavailable as exc:
                log.warning("catalogue: no WAL position (%s); caching for %.0f s", exc, self._ttl)
                self._use_wal = False
        return int(time.monotonic() // self._ttl)

    def hint(self, index: str) -> str:
        return ""  # PostgreSQL's planner chooses on statistics and has no hints

    def close(self) -> None:
        pass  # the connection is the catalogue's


def _reader_for(catalogue: Catalogue) -> _Reader:
    if isinstance(catalogue, PostgresCatalogue):
        return _PostgresReader(catalogue)
    if isinstance(catalogue, SqliteCatalogue):
        return _SqliteReader(catalogue.path)
    raise InvalidArgument(f"the dashboard cannot read a {type(catalogue).__name__}")


class CatalogueSource:
    """``DumpSource`` over a catalogue, with the dump directory its files are in (if local)."""

    def __init__(
        self,
        dumpdir: Path | None,
        catalogue: Catalogue,
        reader: _Reader,
        stored: DumpFiles | None = None,
    ) -> None:
        self._dir = dumpdir
        self.catalogue = catalogue
        if stored is None and dumpdir is not None:
            stored = LocalFiles(dumpdir)
        self.stored = stored
        """The dumps' files: the directory, or the bucket the collectors write."""
        self._db = reader
        self._cache: dict[Hashable, tuple[Hashable, Any]] = {}

    def _cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, reused until the catalogue changes.

        The reader's version moves whenever any connection commits, so a
        whole-catalogue aggregate is computed once per change, not once per page view.
        """
        version = self._db.version()
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
        """The dump directory's own catalogue (created or migrated first)."""
        return cls.open_at(None, dumpdir, stored=stored)

    @classmethod
    def open_at(
        cls,
        url: str | None,
        dumpdir: Path | None,
        *,
        retry_for: float = RETRY_FOR,
        stored: DumpFiles | None = None,
    ) -> CatalogueSource:
        """``--catalogue URL`` (PostgreSQL or an SQLite file), or None for ``dumpdir``'s own.

        ``stored`` is where the files are (a bucket), else ``dumpdir``; with
        neither the dashboard shows records without files.
        A lost PostgreSQL connection is retried for ``retry_for`` seconds, not
        the collectors' minutes: the pages wait meanwhile, then answer 503.
        """
        catalogue = open_catalogue_at(url, dumpdir, retry_for=retry_for)
        try:
            return cls(dumpdir, catalogue, _reader_for(catalogue), stored)
        except BaseException:
            catalogue.close()
            raise

    def close(self) -> None:
        self._db.close()
        self.catalogue.close()
        if self.stored is not None:
            self.stored.close()

    def dumpdir(self) -> Path | None:
        """None when the files are in a bucket: the local disk is then not where they go."""
        return self._dir if isinstance(self.stored, LocalFiles) else None

    def _where(self, f: DumpFilter) -> tuple[str, list[Any]]:
        return sql.dump_filter(
            host=f.host,
            state=f.state,
            signatures=self._signatures(f),
            since=f.since,
            until=f.until,
            search=f.search,
            like=self._db.dialect.like,
        )

    def _signatures(self, f: DumpFilter) -> list[str] | None:
        if f.signature is None:
            return None
        members = getattr(self.catalogue, "signatures_of", None)
        return list(members(f.signature)) if members else [f.signature]

    # -- lists -----------------------------------------------------------------

    def dumps(self, f: DumpFilter, limit: int, offset: int) -> list[Record]:
        where, params = self._where(f)
        # The catalogue's own SELECT and row reader: one query for the page, no per-row get.
        rows = self._db.rows(
            f"{sql.SELECT}{where} ORDER BY started DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [record_json(from_row(r)) for r in rows]

    def count(self, f: DumpFilter) -> int:
        where, params = self._where(f)
        return int(self._db.rows(f"SELECT COUNT(*) FROM dumps{where}", params)[0][0])

    def size(self) -> int:
        return self.catalogue.count()

    def states_since(self, since: float) -> dict[str, int]:
        rows = self._db.rows(
            f"SELECT state, COUNT(*) FROM dumps{self._db.hint('dumps_started')} "
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
        rows = self._db.rows(
            f"SELECT {self._db.dialect.day} AS day, {column}, COUNT(*) "
            f"FROM dumps{self._db.hint(index)} WHERE started >= ? GROUP BY 1, 2",
            (first_day * DAY,),
        )
        canonical = dict(self._db.rows(sql.MERGES))
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
        rows = self._db.rows(
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

    def _get(self, dump_id: str) -> DumpRecord | None:
        # No id holds a NUL, and PostgreSQL refuses one in any text parameter.
        return None if "\0" in dump_id else self.catalogue.get(dump_id)

    def dump(self, dump_id: str) -> Record | None:
        record = self._get(dump_id)
        return None if record is None else record_json(record)

    def files(self, dump_id: str) -> list[DumpFile]:
        record = self._get(dump_id)
        if record is None or self.stored is None:  # no directory or bucket: no files here
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
        if self.stored is None:
            raise NoEntry(f"{name}: no dump directory or bucket to read it from")
        return self.stored.open(name)

    def info_text(self, dump_id: str) -> str:
        record = self._get(dump_id)
        names = [f for f in record.files if Path(f).name.startswith("info.")] if record else []
        if not names or self.stored is None:
            return ""
        try:
            return self.stored.read(names[0], 1 << 20).decode(errors="replace")
        except DebugnetError as exc:
            return f"(cannot read the info file: {exc})"

    def msgbuf(self, dump_id: str) -> str | None:
        from debugnet.catalogue.actions import msgbuf

        record = self._get(dump_id)
        if record is None or record.encrypted or self.stored is None:
            return None
        try:
            return msgbuf(self.stored, record)
        except DebugnetError:
            return None

    def delete(self, dump_id: str) -> None:
        """Remove the dump's files and its record."""
        record = self._get(dump_id)
        if record is not None and self.stored is not None:
            self.stored.delete(record)
        self.catalogue.remove([dump_id])
