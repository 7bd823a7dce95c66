"""The embedded catalogue: one SQLite file inside the dump directory.

WAL journal so that ``debugnet dumps`` and the dashboard read while the
server writes; ``synchronous=NORMAL`` because the files on disk, not the
catalogue, are the source of truth (``reindex`` rebuilds it).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from debugnet.catalogue.sqlbase import CatalogueError, Dialect, SqlCatalogue

CATALOGUE_NAME = "catalogue.sqlite"
SQLITE = Dialect(placeholder="?", error=sqlite3.Error)


def catalogue_path(dumpdir: Path) -> Path:
    return dumpdir / CATALOGUE_NAME


class SqliteCatalogue(SqlCatalogue):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Private like every file of the dump directory; SQLite gives its -wal
            # and -shm files the database file's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            db = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise CatalogueError(f"cannot open the catalogue {path}: {exc}") from None
        try:
            super().__init__(db, SQLITE)
        except sqlite3.Error as exc:
            db.close()
            raise CatalogueError(f"catalogue {path}: {exc}") from None
