"""The catalogue: a record of every dump the server received or found on disk.

API (what the server, ``debugnet dumps`` and the dashboard use)::

    from debugnet.catalogue import open_catalogue, reindex, ListQuery, DumpRecord
    cat = open_catalogue(Path("crash"))         # SQLite in crash/catalogue.sqlite
    cat.dumps(ListQuery(host="db3", since=t, state=DumpState.COMPLETE,
                       signature="...", limit=50))   # newest first
    cat.get("db3.4") / cat.get("rack1/db3.4")   # one record or None
    cat.groups(since=t)                         # [Group(signature, count, hosts,
                                                #        first_seen, last_seen, latest, titles)]
    cat.merge(sig_a, sig_b)                     # one cause; groups show it under sig_a
    cat.remove(["db3.4"]); cat.put(record); cat.update("db3.4", state=..., reason=...)
    cat.receiving(collector_id)                 # what a collector left half-received
    reindex(cat, Path("crash"))                 # rebuild from the files alone

``DumpRecord`` (record.py) carries host, ip, path, index, layout, files,
state (``triage.info.DumpState``: receiving, complete, incomplete, failed) and
reason, started/last_data/ended (Unix seconds), bytes and the KDH's length,
every KDH field, the handler's reason and exit status, the signature and its
recipe version, and the collector's id. IDs are ``host.N`` or ``path/host.N``.

Writers that must not block (the server's session threads) go through
``CatalogueWriter`` (writer.py). Backends implement ``Catalogue`` (base.py);
the SQL is shared and portable (sql.py, sqlbase.py), with SQLite
(sqlite.py) as the embedded default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from debugnet.catalogue.base import Catalogue
from debugnet.catalogue.files import scan
from debugnet.catalogue.record import DumpRecord, Group, Layout, ListQuery, dump_id, split_id
from debugnet.catalogue.sqlite import CATALOGUE_NAME, SqliteCatalogue, catalogue_path
from debugnet.catalogue.writer import CatalogueWriter
from debugnet.errors import InvalidArgument
from debugnet.triage.info import DumpState, Reason

__all__ = [
    "CATALOGUE_NAME",
    "Catalogue",
    "CatalogueWriter",
    "DumpRecord",
    "DumpState",
    "Group",
    "Layout",
    "ListQuery",
    "dump_id",
    "open_catalogue",
    "open_catalogue_at",
    "reindex",
    "split_id",
]

log = logging.getLogger(__name__)


def open_catalogue(dumpdir: Path) -> Catalogue:
    """The embedded catalogue of a dump directory (created, or migrated forward, on open)."""
    return SqliteCatalogue(catalogue_path(dumpdir))


def open_catalogue_at(
    url: str | None,
    dumpdir: Path | None,
    *,
    migrate: bool = False,
    retry_for: float | None = None,
) -> Catalogue:
    """``--catalogue``: a ``postgresql://`` URL, an SQLite file, or (None) the dump directory's.

    A shared PostgreSQL catalogue is only migrated when asked (``debugnet
    dumps migrate``); SQLite files are migrated forward on open. A reader
    with no local dump directory (the dashboard over a shared catalogue)
    passes None for ``dumpdir`` and must then give a URL. ``retry_for``: how
    long a lost PostgreSQL connection is retried, for readers that must answer
    sooner than a writer's default (pages, scrapes).
    """
    if url is None:
        if dumpdir is None:
            raise InvalidArgument("no catalogue: give --catalogue URL or a dump directory")
        return open_catalogue(dumpdir)
    from debugnet.catalogue.postgres import PostgresCatalogue, is_postgres_url

    if is_postgres_url(url):
        if retry_for is None:
            return PostgresCatalogue(url, migrate=migrate)
        return PostgresCatalogue(url, migrate=migrate, retry_for=retry_for)
    if "://" in url:
        raise InvalidArgument(f"unknown catalogue {url!r}: a postgresql:// URL or an SQLite file")
    return SqliteCatalogue(Path(url))


def reindex(catalogue: Catalogue, dumpdir: Path, found: Iterable[DumpRecord] | None = None) -> int:
    """Rebuild every record from the files; returns how many dumps were found.

    What only the catalogue knew is kept for dumps still on disk: a dump a
    collector is still receiving stays ``receiving`` (its info file has no end
    line yet), and the client address, times, handler result and collector
    id of a known dump are kept. Signature merges are kept. ``found``: records
    from elsewhere than ``dumpdir`` (a bucket's ``BucketFiles.scan()``).
    """
    old = {r.id: r for r in catalogue.dumps(ListQuery())}
    records = []
    for record in scan(dumpdir) if found is None else found:
        known = old.get(record.id)
        if known is not None:
            _keep_catalogue_facts(record, known)
        records.append(record)
    return catalogue.replace_all(records)


def _keep_catalogue_facts(record: DumpRecord, known: DumpRecord) -> None:
    record.ip = record.ip or known.ip
    record.started, record.last_data = known.started, known.last_data
    if known.state is DumpState.RECEIVING and record.reason == Reason.NO_END.value:
        record.state, record.reason, record.ended = DumpState.RECEIVING, None, None
    elif known.ended is not None:
        record.ended = known.ended
    record.handler, record.handler_status = known.handler, known.handler_status
    record.collector = known.collector
