"""The dashboard's known dumps in a shared PostgreSQL catalogue, as two collectors wrote them."""

from __future__ import annotations

from pathlib import Path

from debugnet.catalogue import ListQuery, open_catalogue
from debugnet.catalogue.postgres import PostgresCatalogue


def collector_of(host: str, hosts: list[str]) -> str:
    """Each host's dumps went to one collector: the first host's to east, the rest to west."""
    return "east" if host == hosts[0] else "west"


def to_postgres(dumpdir: Path, url: str, hosts: list[str]) -> str:
    """Migrate ``url`` and copy ``dumpdir``'s records into it, named by collector."""
    local = open_catalogue(dumpdir)
    records = local.dumps(ListQuery())
    local.close()
    shared = PostgresCatalogue(url, migrate=True)
    for r in records:
        r.collector = collector_of(r.host, hosts)
        shared.put(r)
    shared.close()
    return url
