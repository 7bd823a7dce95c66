"""Server-rendered SVG: dumps per day stacked by state, and group sparklines.

Pure functions from counts to markup, so pages need no JavaScript to draw and
tests can read the numbers back out of the ``<title>`` of each bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

STATE_COLOURS: dict[str, str] = {
    "complete": "#2e7d32",
    "incomplete": "#ef6c00",
    "failed": "#c62828",
    "receiving": "#1565c0",
}
_OTHER = "#757575"


def stacked_days(
    days: Sequence[str],
    counts: Mapping[str, Mapping[str, int]],
    *,
    width: int = 720,
    height: int = 180,
) -> str:
    """One bar per day (oldest first), stacked by state; ``counts[day][state]``."""
    pad_left, pad_bottom, pad_top = 32, 18, 8
    plot_h = height - pad_bottom - pad_top
    peak = max((sum(counts.get(d, {}).values()) for d in days), default=0) or 1
    slot = (width - pad_left) / max(len(days), 1)
    bar_w = max(slot * 0.8, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="plot" role="img" aria-label="dumps per day by state">',
        f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" class="axis">{peak}</text>',
        f'<text x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end" class="axis">0</text>',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width}" '
        f'y2="{pad_top + plot_h}" class="base"/>',
    ]
    for i, day in enumerate(days):
        x = pad_left + i * slot + (slot - bar_w) / 2
        y = float(pad_top + plot_h)
        for state, n in sorted(counts.get(day, {}).items()):
            if n <= 0:
                continue
            h = plot_h * n / peak
            y -= h
            colour = STATE_COLOURS.get(state, _OTHER)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(day)} {escape(state)}: {n}</title></rect>'
            )
        last = len(days) - 1
        if (i % 7 == 0 and last - i >= 3) or i == last:
            anchor, at = ("end", x + bar_w) if i == last else ("middle", x + bar_w / 2)
            parts.append(
                f'<text x="{at:.1f}" y="{height - 4}" text-anchor="{anchor}" '
                f'class="axis">{escape(day[5:])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[int], *, width: int = 120, height: int = 24) -> str:
    """A polyline of daily counts, oldest first."""
    if not values:
        return ""
    peak = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (height - 4) * v / peak:.1f}" for i, v in enumerate(values)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="spark" role="img" aria-label="dumps per day">'
        f'<polyline points="{points}" fill="none" stroke="#1565c0" stroke-width="1.5"/></svg>'
    )
