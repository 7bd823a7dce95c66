"""What a link reports to an optional trace hook.

Tracing exists so two runs can be compared record by record (determinism
tests, debugging a transport under loss); a link pays for it only when a hook
is installed.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol


class TraceKind(IntEnum):
    SENT = 1
    DELIVERED = 2
    LOST = 3
    DROPPED_QUEUE = 4
    DROPPED_CUT = 5
    CORRUPTED = 6
    DUPLICATED = 7
    REORDERED = 8


class TraceHook(Protocol):
    def __call__(self, time: float, link: str, kind: TraceKind, data: bytes, /) -> None: ...


TraceRecord = tuple[float, str, TraceKind, bytes]


class TraceRecorder:
    """A trace hook that keeps every record; share one between links."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[TraceRecord] = []

    def __call__(self, time: float, link: str, kind: TraceKind, data: bytes) -> None:
        self.records.append((time, link, kind, data))

    def of_kind(self, kind: TraceKind) -> list[TraceRecord]:
        return [r for r in self.records if r[2] is kind]
