"""The catalogue interface: what the server, ``debugnet dumps`` and the dashboard rely on.

One small abstract class, so that the embedded SQLite store and a shared
PostgreSQL (the scale-out issue) are interchangeable. The SQL lives in
``sql.py`` in a portable subset; a backend supplies its connection and
dialect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from debugnet.catalogue.record import DumpRecord, Group, ListQuery
from debugnet.errors import DebugnetError


class CatalogueUnavailable(DebugnetError):
    """The database refused a write for now (a full disk, a lock): worth retrying later."""


class Catalogue(ABC):
    """The record of every dump. Methods are safe to call from one thread at a time;
    servers write through a ``CatalogueWriter`` so writes never block a receive loop."""

    @abstractmethod
    def put(self, record: DumpRecord) -> None:
        """Insert or replace the record with this record's ID."""

    @abstractmethod
    def claim(self, record: DumpRecord) -> bool:
        """Insert the record only if its ID is free (atomically); False when it was taken.

        How collectors sharing a catalogue allocate ``<host>.<N>``: the ID is
        ``path/host.N``, unique, so of two collectors claiming one N one loses
        and tries the next.
        """

    @abstractmethod
    def highest_index(self, path: str, host: str) -> int | None:
        """The highest N recorded for ``host`` in ``path``, or None."""

    @abstractmethod
    def update(self, dump_id: str, **changes: object) -> None:
        """Change some fields of one record (names as in ``DumpRecord``)."""

    @abstractmethod
    def get(self, dump_id: str) -> DumpRecord | None: ...

    @abstractmethod
    def dumps(self, query: ListQuery) -> list[DumpRecord]:
        """Matching dumps, newest first (by start time), at most ``query.limit``."""

    @abstractmethod
    def groups(self, since: float | None = None) -> list[Group]:
        """Dumps with a signature grouped by it (merged signatures as one), newest group first."""

    @abstractmethod
    def remove(self, dump_ids: Iterable[str]) -> int:
        """Forget these records; returns how many existed. Files are the caller's business."""

    @abstractmethod
    def merge(self, a: str, b: str) -> str:
        """Record that signatures ``a`` and ``b`` are one cause; returns the one shown (a's)."""

    @abstractmethod
    def receiving(self, collector: str) -> list[DumpRecord]:
        """Records this collector left in state ``receiving``."""

    @abstractmethod
    def replace_all(self, records: Iterable[DumpRecord]) -> int:
        """Drop every dump record and store these instead (``reindex``); merges survive."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...
