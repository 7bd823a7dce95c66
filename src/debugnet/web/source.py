"""What the dashboard reads: the interface between the web pages and the catalogue.

Records are plain dicts with the fields of ``debugnet dumps ... --json``, so
every HTML page has a JSON twin with the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DumpFilter:
    """The list's filters; None is "any"."""

    host: str | None = None
    state: str | None = None
    signature: str | None = None
    since: float | None = None
    """Unix time: dumps started at or after it."""
    until: float | None = None
    search: str | None = None
    """A substring of the panic string."""


@dataclass(frozen=True, slots=True)
class DumpFile:
    name: str
    path: Path | None
    """On this machine's disk (served with sendfile), or None in a bucket (streamed)."""
    size: int
    exists: bool


class DumpSource(Protocol):
    """Queries the pages need; implemented over the catalogue in ``catalogue_source``."""

    def dumps(self, f: DumpFilter, limit: int, offset: int) -> list[Record]: ...
    def count(self, f: DumpFilter) -> int: ...
    def dump(self, dump_id: str) -> Record | None: ...
    def files(self, dump_id: str) -> list[DumpFile]: ...
    def open_file(self, name: str) -> BinaryIO: ...
    def info_text(self, dump_id: str) -> str: ...
    def msgbuf(self, dump_id: str) -> str | None: ...
    def groups(self, since: float | None) -> list[Record]: ...
    def merge(self, a: str, b: str) -> None: ...
    def delete(self, dump_id: str) -> None: ...
    def states_since(self, since: float) -> dict[str, int]: ...
    def per_day(self, since: float, key: str | None = None) -> dict[str, dict[str, int]]:
        """``{day: {state or key value: count}}`` for dumps started since ``since``."""
        ...

    def hosts(self) -> list[Record]: ...
    def size(self) -> int: ...
    def dumpdir(self) -> Path | None:
        """Where the dump files are on this machine; None when they are not (a shared catalogue)."""
        ...


def day_labels(now: float, days: int) -> Sequence[str]:
    """``YYYY-MM-DD`` (UTC) for the last ``days`` days, oldest first."""
    import datetime as dt

    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    return [(today - dt.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
