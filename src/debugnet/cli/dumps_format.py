"""How ``debugnet dumps`` prints records and groups: JSON documents and 100-column tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from debugnet.catalogue.jsonform import group_json as group_json
from debugnet.catalogue.jsonform import iso as iso
from debugnet.catalogue.jsonform import record_json as record_json
from debugnet.catalogue.record import DumpRecord, Group

WIDTH = 100


def _local(t: float, fmt: str) -> str:
    return datetime.fromtimestamp(t).strftime(fmt)


def dump_json(doc: object, *, compact: bool = False) -> str:
    """Indented for people; compact (the C encoder, one call) for long arrays."""
    if compact:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(doc, indent=1, ensure_ascii=False)


def size(n: int | None) -> str:
    """Three significant digits at most: 512, 1.8K, 324K, 1.0G."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("", "K", "M", "G", "T", "P"):
        if value < 1000 or unit == "P":
            if unit == "":
                return str(n)
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return str(n)


def age(t: float, now: float) -> str:
    """How long ago, in the largest whole unit: 45s, 12m, 5h, 3d, 7w, 2y."""
    seconds = max(now - t, 0.0)
    for unit, length in (
        ("y", 365 * 86400),
        ("w", 7 * 86400),
        ("d", 86400),
        ("h", 3600),
        ("m", 60),
    ):
        if seconds >= length:
            return f"{int(seconds // length)}{unit}"
    return f"{int(seconds)}s"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _rows(header: tuple[str, ...], caps: tuple[int, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns as wide as their content (up to ``caps``); the last one takes
    what is left of 100 columns."""
    widths = [min(cap, max(len(row[i]) for row in [header, *rows])) for i, cap in enumerate(caps)]
    last = WIDTH - sum(widths) - len(widths)
    lines = []
    for row in [header, *rows]:
        cells = [_fit(c, w).ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append(" ".join([*cells, _fit(row[-1], last)]).rstrip())
    return "\n".join(lines)


def list_table(records: list[DumpRecord]) -> str:
    """ID, start time, state, bytes received (of the KDH's length), signature or reason."""
    rows = []
    for r in records:
        what = r.signature or r.panic or ""
        if r.reason:
            what = f"[{r.reason}] {what}"
        got = size(r.bytes)
        if r.length is not None and r.length != r.bytes:
            got += f"/{size(r.length)}"
        rows.append((r.id, _local(r.started, "%Y-%m-%d %H:%M"), r.state.value, got, what))
    return _rows(("ID", "STARTED", "STATE", "BYTES", "SIGNATURE"), (28, 16, 10, 11), rows)


def groups_table(groups: list[Group], now: float) -> str:
    """Count, hosts, first and last seen (as ages), the newest dump, the signature."""
    rows = [
        (
            str(g.count),
            str(len(g.hosts)),
            age(g.first_seen, now),
            age(g.last_seen, now),
            g.latest,
            (f"[+{len(g.titles) - 1} merged] " if len(g.titles) > 1 else "") + g.signature,
        )
        for g in groups
    ]
    header = ("COUNT", "HOSTS", "FIRST", "LAST", "LATEST", "SIGNATURE")
    return _rows(header, (7, 5, 5, 5, 28), rows)


def show_text(r: DumpRecord) -> str:
    doc = record_json(r)
    doc.pop("files")
    width = max(len(k) for k in doc)
    lines = []
    for key, value in doc.items():
        text = "" if value is None else str(value)
        if key == "version_string":
            text = text.replace("\n", "\n" + " " * (width + 2))
        lines.append(f"{key:<{width}}  {text}")
    lines.append("files:")
    lines += [f"  {f}" for f in r.files]
    return "\n".join(lines)
