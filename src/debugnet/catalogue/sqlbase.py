"""The catalogue over any DB-API connection, given a small dialect.

Everything but opening the connection is shared, so a
PostgreSQL backend is a connection factory and a ``Dialect`` (paramstyle and
error type); the queries and migrations in ``sql.py`` are the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from debugnet.catalogue import sql
from debugnet.catalogue.base import Catalogue, CatalogueUnavailable
from debugnet.catalogue.record import DumpRecord, Group, ListQuery
from debugnet.errors import DebugnetError, InvalidArgument
from debugnet.triage.info import DumpState

log = logging.getLogger(__name__)

_FIELDS = [f for f, _, _ in sql.COLUMNS]
_BOOLS = {"encrypted", "parity_ok"}


class CatalogueError(DebugnetError):
    """The catalogue cannot be opened or used (a newer schema, a broken database)."""


@dataclass(frozen=True, slots=True)
class Dialect:
    placeholder: str
    """What ``?`` becomes in this database's paramstyle."""
    error: type[Exception]
    """The driver's base exception (its DB-API ``Error``)."""
    like: str = "LIKE"
    """A substring match that ignores ASCII case: SQLite's LIKE does, PostgreSQL's needs ILIKE."""
    day: str = "CAST(started / 86400 AS INTEGER)"
    """The UTC day number of ``started``. A cast truncates in SQLite but rounds in
    PostgreSQL, where a dump at 18:00 would land on the next day: it uses FLOOR."""


def _text(value: str) -> str:
    """Valid UTF-8 for the database: bytes a client sent that are not (kept by
    surrogateescape in KDH strings) become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _to_row(record: DumpRecord) -> tuple[Any, ...]:
    values: list[Any] = [_text(record.id)]
    for name in _FIELDS:
        value = getattr(record, name)
        if isinstance(value, str):
            value = _text(value)
        elif name == "files":
            value = json.dumps([_text(f) for f in value])
        elif name == "state":
            value = value.value
        elif name in _BOOLS and value is not None:
            value = int(value)
        values.append(value)
    return tuple(values)


_STATES = {state.value: state for state in DumpState}
_decode_list = json.JSONDecoder().decode


def from_row(row: Sequence[Any]) -> DumpRecord:
    """A record from a row; sql.COLUMNS follow DumpRecord's field order (a test checks it)."""
    r = DumpRecord(*row)
    r.files = _decode_list(row[_FILES])
    r.state = _STATES[row[_STATE]]
    if r.encrypted is not None:
        r.encrypted = bool(r.encrypted)
    if r.parity_ok is not None:
        r.parity_ok = bool(r.parity_ok)
    return r


_FILES, _STATE = _FIELDS.index("files"), _FIELDS.index("state")


@dataclass(slots=True)
class _Acc:
    """One group being summed up from its signatures' rows."""

    count: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    newest_signature: str = ""
    hosts: set[str] = field(default_factory=set)
    titles: set[str] = field(default_factory=set)


_UPDATABLE = {f.name for f in fields(DumpRecord)} - {"host", "index", "path"}


class SqlCatalogue(Catalogue):
    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._db = connection
        self._dialect = dialect
        self._migrate()

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a read-only query in the portable SQL (``?`` placeholders).

        For readers with needs beyond the interface (the dashboard's paging,
        counts and aggregates); decode ``sql.SELECT`` rows with ``from_row``.
        """
        return [tuple(r) for r in self._exec(text, params).fetchall()]

    # -- plumbing --------------------------------------------------------------

    def _q(self, text: str) -> str:
        return text if self._dialect.placeholder == "?" else text.replace("?", "%s")

    def _exec(self, text: str, params: Sequence[Any] = ()) -> Any:
        cur = self._db.cursor()
        try:
            cur.execute(self._q(text), params)
        except self._dialect.error as exc:
            self._db.rollback()
            raise CatalogueUnavailable(f"catalogue: {exc}") from exc
        return cur

    def _version(self) -> int:
        try:
            row = self._exec(sql.GET_VERSION).fetchone()
        except CatalogueUnavailable:  # no meta table yet: a new database
            return 0
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        version = self._version()
        if version > sql.SCHEMA_VERSION:
            raise CatalogueError(
                f"catalogue schema {version} is newer than this debugnet's {sql.SCHEMA_VERSION}"
            )
        for target in range(version, sql.SCHEMA_VERSION):
            for statement in sql.MIGRATIONS[target]:
                self._exec(statement)
            self._exec(sql.SET_VERSION, (str(target + 1),))
            self._db.commit()
            log.debug("catalogue schema migrated to version %d", target + 1)

    def commit(self) -> None:
        """Commit; on failure (a full disk) roll back, so the next write starts clean."""
        try:
            self._db.commit()
        except self._dialect.error as exc:
            self._db.rollback()
            raise CatalogueUnavailable(f"catalogue: {exc}") from exc

    # -- the interface ---------------------------------------------------------

    def put(self, record: DumpRecord) -> None:
        self._exec(sql.UPSERT, _to_row(record))
        self.commit()

    def claim(self, record: DumpRecord) -> bool:
        taken = self._exec(sql.CLAIM, _to_row(record)).rowcount == 1
        self._db.commit()
        return bool(taken)

    def highest_index(self, path: str, host: str) -> int | None:
        row = self._exec(sql.HIGHEST, (path, host)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def update(self, dump_id: str, **changes: object) -> None:
        bad = set(changes) - _UPDATABLE
        if bad:
            raise InvalidArgument(f"cannot update {sorted(bad)} of a dump record")
        record = self.get(dump_id)
        if record is None:
            log.warning("catalogue: no record %s to update", dump_id)
            return
        for name, value in changes.items():
            setattr(record, name, value)
        self.put(record)

    def get(self, dump_id: str) -> DumpRecord | None:
        row = self._exec(f"{sql.SELECT} WHERE id = ?", (dump_id,)).fetchone()
        return None if row is None else from_row(row)

    def signatures_of(self, signature: str) -> list[str]:
        """Every signature that is one cause with ``signature`` (itself included)."""
        row = self._exec(sql.CANONICAL, (signature,)).fetchone()
        canonical = row[0] if row else signature
        members = [r[0] for r in self._exec(sql.MEMBERS, (canonical,)).fetchall()]
        return sorted({canonical, signature, *members})

    def dumps(self, query: ListQuery) -> list[DumpRecord]:
        where, params = sql.dump_filter(
            host=query.host,
            state=query.state.value if query.state is not None else None,
            signatures=(
                self.signatures_of(query.signature) if query.signature is not None else None
            ),
            since=query.since,
        )
        text = sql.SELECT + where + " ORDER BY started DESC, id DESC"
        if query.limit is not None:
            text += " LIMIT ?"
            params.append(query.limit)
        return [from_row(r) for r in self._exec(text, params).fetchall()]

    def groups(self, since: float | None = None) -> list[Group]:
        """Aggregates per signature in SQL, then merged signatures folded together."""
        flag = since is not None
        params: tuple[Any, ...] = (since,) if flag else ()
        canonical = dict(self._exec(sql.MERGES).fetchall())
        acc: dict[str, _Acc] = {}
        for sig, n, first, last in self._exec(sql.group_stats(flag), params).fetchall():
            a = acc.setdefault(canonical.get(sig, sig), _Acc())
            a.titles.add(sig)
            a.count += n
            a.first = min(a.first, first)
            if last > a.last:
                a.last, a.newest_signature = last, sig
        for sig, host in self._exec(sql.group_hosts(flag), params).fetchall():
            acc[canonical.get(sig, sig)].hosts.add(host)
        groups = []
        for sig, a in acc.items():
            row = self._exec(sql.newest_of(flag), (a.newest_signature, *params)).fetchone()
            groups.append(
                Group(sig, a.count, sorted(a.hosts), a.first, a.last, row[0], sorted(a.titles))
            )
        groups.sort(key=lambda g: (-g.last_seen, g.signature))
        return groups

    def remove(self, dump_ids: Iterable[str]) -> int:
        removed = 0
        for dump_id in dump_ids:
            removed += self._exec(sql.DELETE_ONE, (dump_id,)).rowcount
        self.commit()
        return removed

    def merge(self, a: str, b: str) -> str:
        row = self._exec(sql.CANONICAL, (a,)).fetchone()
        target = row[0] if row else a
        row = self._exec(sql.CANONICAL, (b,)).fetchone()
        old = row[0] if row else b
        if old != target:
            self._exec(sql.REPOINT, (target, old))
            self._exec(sql.ADD_MERGE, (old, target))
            self._exec(sql.ADD_MERGE, (b, target))
        self.commit()
        return str(target)

    def receiving(self, collector: str) -> list[DumpRecord]:
        text = f"{sql.SELECT} WHERE state = ? AND collector = ? ORDER BY started"
        rows = self._exec(text, (DumpState.RECEIVING.value, collector)).fetchall()
        return [from_row(r) for r in rows]

    def replace_all(self, records: Iterable[DumpRecord]) -> int:
        self._exec(sql.DELETE_ALL)
        cur = self._db.cursor()
        rows = [_to_row(r) for r in records]
        cur.executemany(self._q(sql.UPSERT), rows)
        self.commit()
        return len(rows)

    def count(self) -> int:
        return int(self._exec(sql.COUNT).fetchone()[0])

    def close(self) -> None:
        self._db.close()
