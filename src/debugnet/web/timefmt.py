"""Times and sizes as the pages print them, and the ``since`` filter's syntax."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def parse_since(value: str | None, now: float) -> float | None:
    """``30m``, ``24h``, ``7d``, ``2w`` ago, or an ISO date/time (UTC by default), as Unix time."""
    if value is None:
        return None
    m = _DURATION.match(value.strip())
    if m:
        try:
            return now - int(m.group(1)) * _UNITS[m.group(2)]
        except (ValueError, OverflowError):  # more digits than int() or a float takes
            raise ValueError(f"since/until {value!r}: too far back") from None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"since/until {value!r}: use 24h, 7d or an ISO date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def format_when(value: float | str | None) -> str:
    """Unix time (or an ISO string, as stored) as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value.replace("T", " ").removesuffix("Z").removesuffix("+00:00")
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_size(value: float | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
