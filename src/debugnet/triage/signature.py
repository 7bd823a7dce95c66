"""Panic signatures: one title per cause, so that twenty panics of one bug are one group.

The recipe (DUMPTOOLS.md, version 1) starts from the KDH's panic string (or
the message buffer's last ``panic:`` line), replaces a bare trap message with
the trap line and the first interesting backtrace frame, then strips what
varies between two crashes of one bug: addresses, line numbers, build paths,
IP addresses, counters. The version is stored with each signature, so a later
recipe can re-group old dumps without mixing titles of two recipes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIGNATURE_VERSION = 1
MAX_TITLE = 120
NO_PANIC = "(no panic string)"

SKIP_FRAMES = frozenset(
    {
        "kdb_backtrace",
        "vpanic",
        "panic",
        "trap_fatal",
        "trap_pfault",
        "trap",
        "calltrap",
        "db_trace_self_wrapper",
        "m_copydata",
        "__rw_wlock_hard",
        "sx_destroy",
    }
)
SKIP_PREFIXES = ("__asan_",)

_FATAL_TRAP = re.compile(r"Fatal trap \d+: [^\n]*? while in kernel mode")
_BACKTRACE = "KDB: stack backtrace:"
_FRAME_NUMBERED = re.compile(r"^#\d+ 0x[0-9a-fA-F]+ at ([A-Za-z_][\w.$]*)\+0x")
_FRAME_DDB = re.compile(r"^([A-Za-z_][\w.$]*)\(\) at ")

# Step 3 of the recipe, in this order (function offsets before bare hex).
_REPLACEMENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:/[^\s/]+)*/sys/"), "sys/"),
    (re.compile(r"\b([A-Za-z_][\w.$]*)\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?"), r"\1"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "ADDR"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b"), "ADDR"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "IP"),
    (re.compile(r"(\.[chS]):\d+\b"), r"\1:LINE"),
    (re.compile(r"(?<![\w.])\d+(?![\w.])"), "NUM"),
)
_NON_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Signature:
    title: str
    version: int = SIGNATURE_VERSION


def _panic_from_msgbuf(msgbuf: str) -> str:
    at = msgbuf.rfind("panic: ")
    if at < 0:
        return ""
    return msgbuf[at + len("panic: ") :].split("\n", 1)[0]


def _interesting(frame: str) -> bool:
    return frame not in SKIP_FRAMES and not frame.startswith(SKIP_PREFIXES)


def first_frame(msgbuf: str) -> str | None:
    """The first backtrace frame (after the last ``KDB: stack backtrace:``) worth naming."""
    at = msgbuf.rfind(_BACKTRACE)
    if at < 0:
        return None
    for line in msgbuf[at + len(_BACKTRACE) :].split("\n"):
        line = line.strip()
        m = _FRAME_NUMBERED.match(line) or _FRAME_DDB.match(line)
        if m and _interesting(m.group(1)):
            return m.group(1)
    return None


def normalize(title: str) -> str:
    """Steps 3 and 4: replace what varies until nothing changes; printable, ≤ 120 characters."""
    while True:
        before = title
        for pattern, replacement in _REPLACEMENTS:
            title = pattern.sub(replacement, title)
        if title == before:
            break
    title = _NON_PRINTABLE.sub(" ", title)
    return _SPACES.sub(" ", title).strip()[:MAX_TITLE].rstrip()


def signature(panic: str | None, msgbuf: str | None = None) -> Signature:
    """The signature of a dump from its panic string and (if read) its message buffer."""
    msgbuf = msgbuf or ""
    title = (panic or "").strip() or _panic_from_msgbuf(msgbuf).strip()
    traps = _FATAL_TRAP.findall(msgbuf)
    if traps:
        frame = first_frame(msgbuf)
        title = traps[-1] + (f" in {frame}" if frame else "")
    return Signature(normalize(title) or NO_PANIC)
