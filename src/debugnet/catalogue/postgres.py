"""The shared catalogue: PostgreSQL through psycopg 3, for many collectors at once.

The queries and migrations are the portable ones of ``sql.py``; this module
adds what a network database needs and a local file does not:

- every operation survives a lost connection: it reconnects with
  exponential backoff and runs the operation again, for up to ``retry_for``
  seconds (operations are idempotent: upserts, deletes by ID, merges), so a
  dump in progress is not lost because the database restarted; the server's
  writes run in the catalogue writer thread, so the receive path never waits;
- ``claim`` inserts a record only if its ID is free, in one statement, so two
  collectors allocating ``vmcore.<host>.<N>`` never both get the same N (the
  ID is ``path/host.N``: its primary key is ``UNIQUE(path, host, N)``).

Needs the ``postgresql`` extra (``pip install 'debugnet[postgresql]'``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from debugnet.catalogue import sql
from debugnet.catalogue.base import CatalogueUnavailable
from debugnet.catalogue.record import DumpRecord, Group, ListQuery
from debugnet.catalogue.sqlbase import CatalogueError, Dialect, SqlCatalogue
from debugnet.errors import InvalidArgument

log = logging.getLogger(__name__)

T = TypeVar("T")

_MIGRATION_LOCK = 0x64626E6574  # "dbnet": the advisory lock id of schema migration
SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(text: str) -> bool:
    return text.startswith(SCHEMES)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise InvalidArgument(
            "a PostgreSQL catalogue needs psycopg: pip install 'debugnet[postgresql]'"
        ) from None
    return psycopg


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    creds, at, where = rest.rpartition("@")
    if not at:
        return url
    user = creds.partition(":")[0]
    return f"{scheme}://{user}@{where}"


def one_line(exc: Exception) -> str:
    """libpq's message on one line (it adds hints on lines of their own): errors are one line."""
    return " ".join(str(exc).split())


class PostgresCatalogue(SqlCatalogue):
    """The catalogue in a PostgreSQL database shared by every collector and reader."""

    def __init__(
        self,
        url: str,
        *,
        retry_for: float = 300.0,
        connect_timeout: float = 10.0,
        migrate: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pg = _psycopg()
        self._may_migrate = migrate
        self.url = url
        self.retry_for = retry_for
        self._connect_timeout = connect_timeout
        self._sleep = sleep
        self.reconnects = 0
        dialect = Dialect(
            placeholder="%s",
            error=self._pg.Error,
            like="ILIKE",
            day="CAST(FLOOR(started / 86400) AS BIGINT)",
        )
        try:
            db = self._connect()
            super().__init__(db, dialect)
        except self._pg.Error as exc:
            raise CatalogueError(f"catalogue {redact(url)}: {one_line(exc)}") from None
        except CatalogueError:
            db.close()
            raise

    # -- connection ----------------------------------------------------------

    def _migrate(self) -> None:
        """Check the schema, or (``migrate=True``) migrate it under an advisory lock.

        A shared database is migrated on purpose (``debugnet dumps migrate``),
        not by whichever collector starts first; the lock makes concurrent
        migrations run one after the other.
        """
        if not self._may_migrate:
            version = self._version()
            self._db.commit()
            if version != sql.SCHEMA_VERSION:
                raise CatalogueError(
                    f"catalogue {redact(self.url)} has schema {version}, this debugnet needs "
                    f"{sql.SCHEMA_VERSION}: run 'debugnet dumps --catalogue URL migrate'"
                )
            return
        self._exec("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
        self._db.commit()
        try:
            super()._migrate()
        finally:
            self._rollback()
            self._exec("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))
            self._db.commit()

    def _connect(self) -> Any:
        return self._pg.connect(self.url, connect_timeout=max(1, int(self._connect_timeout)))

    def _lost(self, exc: Exception) -> bool:
        """A connection-level failure (worth reconnecting for), not a bad statement."""
        return isinstance(exc, (self._pg.OperationalError, self._pg.InterfaceError))

    def _retrying(self, op: Callable[[], T]) -> T:
        """Run ``op``; on a lost connection reconnect with backoff and run it again."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            try:
                result = op()
                self._db.commit()  # end a read's transaction: no session stays idle in one
                return result
            except (self._pg.Error, CatalogueUnavailable) as exc:
                cause = exc.__cause__ if isinstance(exc, CatalogueUnavailable) else exc
                if not isinstance(cause, Exception) or not self._lost(cause):
                    self._rollback()
                    raise
                if time.monotonic() + delay > deadline:
                    raise CatalogueError(
                        f"catalogue {redact(self.url)} unreachable: {one_line(exc)}"
                    ) from exc
                log.warning("catalogue connection lost (%s); retrying in %.1f s", exc, delay)
            self._sleep(delay)
            delay = min(delay * 2, 5.0)
            self._reconnect()

    def _rollback(self) -> None:
        try:
            self._db.rollback()
        except self._pg.Error:
            pass

    def _reconnect(self) -> None:
        try:
            self._db.close()
        except self._pg.Error:
            pass
        try:
            self._db = self._connect()
        except self._pg.Error as exc:
            log.debug("catalogue reconnect failed: %s", exc)
            self._db = _Broken(exc)
            return
        self.reconnects += 1
        log.info("catalogue connection re-established")

    # -- the interface, each operation retried as a whole ----------------------

    def put(self, record: DumpRecord) -> None:
        self._retrying(lambda: SqlCatalogue.put(self, record))

    def claim(self, record: DumpRecord) -> bool:
        return self._retrying(lambda: SqlCatalogue.claim(self, record))

    def update(self, dump_id: str, **changes: object) -> None:
        self._retrying(lambda: SqlCatalogue.update(self, dump_id, **changes))

    def get(self, dump_id: str) -> DumpRecord | None:
        return self._retrying(lambda: SqlCatalogue.get(self, dump_id))

    def dumps(self, query: ListQuery) -> list[DumpRecord]:
        return self._retrying(lambda: SqlCatalogue.dumps(self, query))

    def signatures_of(self, signature: str) -> list[str]:
        return self._retrying(lambda: SqlCatalogue.signatures_of(self, signature))

    def groups(self, since: float | None = None) -> list[Group]:
        return self._retrying(lambda: SqlCatalogue.groups(self, since))

    def remove(self, dump_ids: Iterable[str]) -> int:
        ids = list(dump_ids)
        return self._retrying(lambda: SqlCatalogue.remove(self, ids))

    def merge(self, a: str, b: str) -> str:
        return self._retrying(lambda: SqlCatalogue.merge(self, a, b))

    def receiving(self, collector: str) -> list[DumpRecord]:
        return self._retrying(lambda: SqlCatalogue.receiving(self, collector))

    def replace_all(self, records: Iterable[DumpRecord]) -> int:
        rows = list(records)
        return self._retrying(lambda: SqlCatalogue.replace_all(self, rows))

    def highest_index(self, path: str, host: str) -> int | None:
        return self._retrying(lambda: SqlCatalogue.highest_index(self, path, host))

    def count(self) -> int:
        return self._retrying(lambda: SqlCatalogue.count(self))

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._retrying(lambda: SqlCatalogue.rows(self, text, params))

    def schema_version(self) -> int:
        return self._retrying(self._version)

    def close(self) -> None:
        try:
            self._db.close()
        except self._pg.Error:
            pass


class _Broken:
    """Stands in for a connection that could not be re-made: every use raises the cause."""

    def __init__(self, cause: Exception) -> None:
        self._cause = cause

    def cursor(self) -> Any:
        raise self._cause

    def commit(self) -> None:
        raise self._cause

    def rollback(self) -> None:
        raise self._cause

    def close(self) -> None:
        pass
