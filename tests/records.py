"""Catalogue records for tests, shared by every catalogue and every reader of one."""

from __future__ import annotations

from debugnet.catalogue import DumpRecord, DumpState

# What `dumps list --json` and `/api/dumps` promise of each record: one contract.
RECORD_FIELDS = frozenset(
    {
        "id",
        "host",
        "ip",
        "index",
        "state",
        "reason",
        "bytes",
        "length",
        "started",
        "ended",
        "panic",
        "signature",
        "files",
    }
)


def rec(host: str, index: int, started: float, **kw: object) -> DumpRecord:
    return DumpRecord(host=host, index=index, started=started, **kw)  # type: ignore[arg-type]


def every_field_set(**kw: object) -> DumpRecord:
    """A record with no field left at its default, so a round trip that drops one shows it."""
    fields: dict[str, object] = {
        "path": "rack1",
        "ip": "192.0.2.7",
        "files": ["rack1/info.db3.4"],
        "state": DumpState.INCOMPLETE,
        "reason": "timed out",
        "bytes": 10,
        "length": 20,
        "encrypted": True,
        "parity_ok": False,
        "signature": "x",
        "collector": "c1",
    }
    return rec("db3", 4, 100.0, **(fields | kw))
