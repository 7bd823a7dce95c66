"""The catalogue's schema and queries, in SQL that SQLite and PostgreSQL both run.

Portable on purpose: ``?`` placeholders (a backend with another paramstyle
rewrites them), DOUBLE PRECISION for times, BIGINT for sizes, INTEGER 0/1 for
booleans, text for lists (JSON), ``ON CONFLICT`` upserts.
The schema is versioned: ``MIGRATIONS[n]`` takes version n to n + 1 and
never changes once released; a new column is a new migration.
"""

from __future__ import annotations

from typing import Any

COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (DumpRecord field, column, SQL type)
    ("host", "host", "TEXT NOT NULL"),
    ("index", "idx", "INTEGER NOT NULL"),
    ("started", "started", "DOUBLE PRECISION NOT NULL"),
    ("path", "path", "TEXT NOT NULL"),
    ("layout", "layout", "TEXT NOT NULL"),
    ("ip", "ip", "TEXT"),
    ("files", "files", "TEXT NOT NULL"),
    ("state", "state", "TEXT NOT NULL"),
    ("reason", "reason", "TEXT"),
    ("last_data", "last_data", "DOUBLE PRECISION"),
    ("ended", "ended", "DOUBLE PRECISION"),
    ("bytes", "bytes", "BIGINT NOT NULL"),
    ("length", "length", "BIGINT"),
    ("kdh_version", "kdh_version", "INTEGER"),
    ("architecture", "architecture", "TEXT"),
    ("architecture_version", "architecture_version", "INTEGER"),
    ("version_string", "version_string", "TEXT"),
    ("panic", "panic", "TEXT"),
    ("dumptime", "dumptime", "BIGINT"),
    ("hostname", "hostname", "TEXT"),
    ("compression", "compression", "TEXT"),
    ("encrypted", "encrypted", "INTEGER"),
    ("parity_ok", "parity_ok", "INTEGER"),
    ("handler", "handler", "TEXT"),
    ("handler_status", "handler_status", "INTEGER"),
    ("signature", "signature", "TEXT"),
    ("signature_version", "signature_version", "INTEGER"),
    ("collector", "collector", "TEXT NOT NULL"),
)
FIELD_TO_COLUMN = {f: c for f, c, _ in COLUMNS}
COLUMN_LIST = ", ".join(c for _, c, _ in COLUMNS)

_CREATE_DUMPS = (
    "CREATE TABLE dumps (id TEXT PRIMARY KEY, " + ", ".join(f"{c} {t}" for _, c, t in COLUMNS) + ")"
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: the first schema.
    (
        "CREATE TABLE catalogue_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        _CREATE_DUMPS,
        "CREATE INDEX dumps_started ON dumps (started, id)",
        "CREATE INDEX dumps_host ON dumps (host, started)",
        "CREATE INDEX dumps_signature ON dumps (signature, started, host)",
        "CREATE INDEX dumps_state ON dumps (state, collector)",
        "CREATE TABLE signature_merges (signature TEXT PRIMARY KEY, canonical TEXT NOT NULL)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

GET_VERSION = "SELECT value FROM catalogue_meta WHERE name = 'schema_version'"
SET_VERSION = (
    "INSERT INTO catalogue_meta (name, value) VALUES ('schema_version', ?) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)

UPSERT = (
    f"INSERT INTO dumps (id, {COLUMN_LIST}) VALUES (?, {', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for _, c, _ in COLUMNS)
)
CLAIM = (
    f"INSERT INTO dumps (id, {COLUMN_LIST}) VALUES (?, {', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (id) DO NOTHING"
)
HIGHEST = "SELECT MAX(idx) FROM dumps WHERE path = ? AND host = ?"
SELECT = f"SELECT {COLUMN_LIST} FROM dumps"
DELETE_ONE = "DELETE FROM dumps WHERE id = ?"
DELETE_ALL = "DELETE FROM dumps"
COUNT = "SELECT COUNT(*) FROM dumps"

CANONICAL = "SELECT canonical FROM signature_merges WHERE signature = ?"
MEMBERS = "SELECT signature FROM signature_merges WHERE canonical = ?"
REPOINT = "UPDATE signature_merges SET canonical = ? WHERE canonical = ?"
ADD_MERGE = (
    "INSERT INTO signature_merges (signature, canonical) VALUES (?, ?) "
    "ON CONFLICT (signature) DO UPDATE SET canonical = excluded.canonical"
)


def _signed(since: bool) -> str:
    return "signature IS NOT NULL" + (" AND started >= ?" if since else "")


def group_stats(since: bool) -> str:
    """Per signature: count, first and last start (covered by the signature index)."""
    return (
        "SELECT signature, COUNT(*), MIN(started), MAX(started) FROM dumps "
        f"WHERE {_signed(since)} GROUP BY signature"
    )


def group_hosts(since: bool) -> str:
    return f"SELECT DISTINCT signature, host FROM dumps WHERE {_signed(since)}"


def newest_of(since: bool) -> str:
    """The newest dump with one signature (one index probe)."""
    extra = " AND started >= ?" if since else ""
    return f"SELECT id FROM dumps WHERE signature = ?{extra} ORDER BY started DESC, id DESC LIMIT 1"


MERGES = "SELECT signature, canonical FROM signature_merges"


def dump_filter(
    *,
    host: str | None = None,
    state: str | None = None,
    signatures: list[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    search: str | None = None,
    like: str = "LIKE",
) -> tuple[str, list[Any]]:
    """`` WHERE …`` (or nothing) and its parameters for the filters of a dump list.

    One builder for ``debugnet dumps list`` and the dashboard, so both select
    the same dumps for the same filters. ``search`` is a substring of the panic
    string, matched literally (``%``, ``_`` and ``\\`` escaped) and, for ASCII,
    regardless of case: ``like`` is the dialect's operator for that (``Dialect.like``).
    """
    clauses: list[str] = []
    params: list[Any] = []
    if host is not None:
        clauses.append("host = ?")
        params.append(host)
    if state is not None:
        clauses.append("state = ?")
        params.append(state)
    if signatures is not None:
        clauses.append(f"signature IN ({', '.join('?' for _ in signatures)})")
        params += signatures
    if since is not None:
        clauses.append("started >= ?")
        params.append(since)
    if until is not None:
        clauses.append("started < ?")
        params.append(until)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"panic {like} ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
