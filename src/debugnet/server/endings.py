"""How a dump can end: one table for the info file, the handler, the catalogue and metrics.

Every ending of a dump is one ``Ending``. Its row says what the info file's
last line is, what state the dump is left in (triage's ``DumpState``, which
it reads back from that line for the catalogue and the metrics) and which of
netdumpd's handler words the handler script gets. Nothing else in the server
decides these: the recorder picks the ending, everything downstream reads its
row (README, "The server's files", has the same table).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from debugnet.triage.info import DumpState


class Outcome(StrEnum):
    """The word the handler script gets: netdumpd's handler reasons."""

    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class _Row:
    line: str
    """The info file's last line; ``{}`` takes the detail (holes, reason, error)."""
    state: DumpState
    handler: Outcome


class Ending(Enum):
    """One row of the table of endings."""

    COMPLETE = _Row("Dump complete", DumpState.COMPLETE, Outcome.SUCCESS)
    TIMED_OUT = _Row("Dump incomplete: client timed out", DumpState.INCOMPLETE, Outcome.TIMEOUT)
    HOLES = _Row("Dump incomplete: {}", DumpState.INCOMPLETE, Outcome.ERROR)
    NO_DATA = _Row("Dump incomplete: no data", DumpState.INCOMPLETE, Outcome.ERROR)
    SERVER_STOPPED = _Row("Dump incomplete: server stopped", DumpState.INCOMPLETE, Outcome.TIMEOUT)
    DIED = _Row(
        "Dump incomplete: server stopped while receiving", DumpState.INCOMPLETE, Outcome.ERROR
    )
    LIMIT = _Row("Dump incomplete: {}", DumpState.INCOMPLETE, Outcome.ERROR)
    """A guard ended it: disk floor, size limit, past the KDH length, too fragmented."""
    WRITE_ERROR = _Row("Dump unsuccessful: {}", DumpState.FAILED, Outcome.ERROR)
    INTERNAL_ERROR = _Row("Dump unsuccessful: internal error", DumpState.FAILED, Outcome.ERROR)
    BAD_KDH = _Row("Bad KDH: {}", DumpState.FAILED, Outcome.ERROR)

    @property
    def state(self) -> DumpState:
        return self.value.state

    @property
    def handler(self) -> Outcome:
        return self.value.handler

    def line(self, detail: str = "") -> bytes:
        """The info file's last line for this ending, ``detail`` filled in, newline-terminated."""
        return (self.value.line.format(escape(detail)) + "\n").encode("utf-8", "surrogateescape")


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_CONTROL.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})


def escape(text: str) -> str:
    """``text`` with every control character written as an escape: it can forge no line."""
    return text.translate(_CONTROL)


def escape_version(text: str) -> str:
    """As ``escape``, but keeping the kernel version string's two-line shape.

    A newline stays when it is the last character or the next line is
    indented (a space or tab): the second line of ``uname -v`` is, and no
    status line is (they start at column 0), so crashinfo(8) still reads it.
    """
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "\n" and (i == len(text) - 1 or text[i + 1] in " \t"):
            out.append(ch)
        else:
            out.append(escape(ch))
    return "".join(out)
