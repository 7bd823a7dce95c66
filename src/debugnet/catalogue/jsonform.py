"""Records and groups as JSON documents: what ``debugnet dumps ... --json`` prints and the
dashboard's API returns, defined once so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from debugnet.catalogue.record import DumpRecord, Group


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_json(r: DumpRecord) -> dict[str, Any]:
    """The issue's fields first (id, host, ip, index, state, ...), then every other one."""
    out: dict[str, Any] = {
        "id": r.id,
        "host": r.host,
        "ip": r.ip,
        "index": r.index,
        "state": r.state.value,
        "reason": r.reason,
        "bytes": r.bytes,
        "length": r.length,
        "started": iso(r.started),
        "ended": iso(r.ended),
        "panic": r.panic,
        "signature": r.signature,
        "files": r.files,
    }
    for key, value in asdict(r).items():
        if key not in out:
            out[key] = iso(value) if key == "last_data" else value
    out["state"] = r.state.value
    return out


def group_json(g: Group) -> dict[str, Any]:
    return {
        "signature": g.signature,
        "count": g.count,
        "hosts": g.hosts,
        "first_seen": iso(g.first_seen),
        "last_seen": iso(g.last_seen),
        "latest": g.latest,
        "titles": g.titles,
    }
