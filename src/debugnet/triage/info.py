"""Info files, as netdumpd and savecore(8) write them, read back into one record.

The info file is the source of truth about a dump once it is on disk: the
catalogue can be rebuilt from info files alone. Two dialects exist (PROTOCOL.md
section 9 for netdumpd's, DUMPTOOLS.md for savecore's) and differ in the first
line, the length and time formats, the parity line and how the outcome is told
(netdumpd: a last line such as ``Dump complete``; savecore: ``Dump Status``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum


class InfoFormat(Enum):
    NETDUMPD = "netdumpd"
    SAVECORE = "savecore"


class DumpState(Enum):
    """Where a dump stands; every state but RECEIVING is final."""

    RECEIVING = "receiving"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    FAILED = "failed"


class Reason(Enum):
    """Why a dump is not complete; details (ranges, errors) follow after a colon."""

    TIMED_OUT = "timed out"
    SERVER_STOPPED = "server stopped"
    HOLES = "holes"
    BAD_KDH = "bad KDH"
    WRITE_ERROR = "write error"
    INTERRUPTED = "interrupted"
    INTERNAL = "internal error"
    NO_END = "no end line"
    BAD_STATUS = "bad dump"


@dataclass(frozen=True, slots=True)
class Outcome:
    state: DumpState
    reason: str | None = None


INTERRUPTED_LINE = b"Dump incomplete: server stopped while receiving\n"
"""What start-up appends to the info file of a dump whose collector died mid-dump."""

_FIELD = re.compile(r"^  ([A-Za-z ]+): ?(.*)$")
_FROM = re.compile(r"^Dump from (\S*) \[([^\]]*)\]$")
_DEVICE = re.compile(r"^Dump header from device:? (.*)$")
_LEADING_INT = re.compile(r"^\s*(-?\d+)")
_MISSING = re.compile(r"^\d+ bytes missing")


@dataclass(frozen=True, slots=True)
class InfoFile:
    """Everything an info file says; None where it does not say it."""

    format: InfoFormat
    host: str | None = None
    ip: str | None = None
    device: str | None = None
    architecture: str | None = None
    architecture_version: int | None = None
    length: int | None = None
    blocksize: int | None = None
    compression: str | None = None
    dumptime: int | None = None
    hostname: str | None = None
    magic: str | None = None
    version_string: str | None = None
    panic: str | None = None
    parity_ok: bool | None = None
    bounds: int | None = None
    status: str | None = None
    bad_kdh: bool = False
    end_line: str | None = None
    outcome: Outcome = Outcome(DumpState.INCOMPLETE, Reason.NO_END.value)


def _int(text: str) -> int | None:
    m = _LEADING_INT.match(text)
    return int(m.group(1)) if m else None


_CTIME = re.compile(r"^\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


def _dumptime(text: str) -> int | None:
    """netdumpd's ctime(3) (local time) or savecore's ``%F %T %z``.

    Matched by hand: strptime costs more than the rest of an info file.
    """
    text = text.strip()
    try:
        if m := _CTIME.match(text):
            month = _MONTHS[m.group(1)]
            day, hh, mm, ss, year = (int(g) for g in m.group(2, 3, 4, 5, 6))
            return int(datetime(year, month, day, hh, mm, ss).timestamp())
        if m := _ISO.match(text):
            year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
            offset = (int(m.group(8)) * 60 + int(m.group(9))) * (1 if m.group(7) == "+" else -1)
            zone = timezone(timedelta(minutes=offset))
            return int(datetime(year, month, day, hh, mm, ss, tzinfo=zone).timestamp())
    except (KeyError, ValueError, OverflowError, OSError):
        return None
    return None


def end_outcome(line: str) -> Outcome | None:
    """The outcome one of netdumpd's (or our) closing lines states, or None for other lines."""
    if line == "Dump complete":
        return Outcome(DumpState.COMPLETE)
    if line == "Dump incomplete: client timed out":
        return Outcome(DumpState.INCOMPLETE, Reason.TIMED_OUT.value)
    if line == "Dump incomplete: server stopped":
        return Outcome(DumpState.INCOMPLETE, Reason.SERVER_STOPPED.value)
    if line == INTERRUPTED_LINE.decode().rstrip("\n"):
        return Outcome(DumpState.INCOMPLETE, Reason.INTERRUPTED.value)
    if line.startswith("Dump incomplete: "):
        detail = line.removeprefix("Dump incomplete: ")
        if _MISSING.match(detail):
            return Outcome(DumpState.INCOMPLETE, f"{Reason.HOLES.value}: {detail}")
        return Outcome(DumpState.INCOMPLETE, detail)  # no data, a guard's limit (endings.py)
    if line.startswith("Dump unsuccessful: write error"):
        detail = line.removeprefix("Dump unsuccessful: ")
        return Outcome(DumpState.FAILED, detail)
    if line.startswith("Dump unsuccessful: "):
        return Outcome(DumpState.FAILED, line.removeprefix("Dump unsuccessful: "))
    return None


def _text(value: str) -> str:
    return value


_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "Architecture": ("architecture", _text),
    "Architecture Version": ("architecture_version", _int),
    "Dump Length": ("length", _int),
    "Blocksize": ("blocksize", _int),
    "Compression": ("compression", _text),
    "Dumptime": ("dumptime", _dumptime),
    "Hostname": ("hostname", _text),
    "Magic": ("magic", _text),
    "Panic String": ("panic", _text),
    "Header Parity Check": ("parity_ok", lambda v: v == "Pass"),
    "Dump Parity": ("parity", _int),
    "Bounds": ("bounds", _int),
    "Dump Status": ("status", _text),
}


def _apply(values: dict[str, object], name: str, value: str) -> None:
    if name in _FIELDS:
        key, parse = _FIELDS[name]
        values[key] = parse(value)


def parse_info(data: bytes) -> InfoFile:
    """Read either dialect; unknown lines are skipped, so later additions do not break it."""
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    values: dict[str, object] = {}
    fmt = InfoFormat.NETDUMPD
    version: list[str] | None = None
    outcome: Outcome | None = None
    end_line: str | None = None
    for line in lines:
        field = _FIELD.match(line)
        if version is not None:
            if field is None and line.startswith(" "):
                version.append(line)
                continue
            values["version_string"] = "\n".join(version)
            version = None
        if field is not None:
            name, value = field.group(1), field.group(2)
            if name == "Version String":
                version = [value]
            else:
                _apply(values, name, value)
            continue
        if m := _FROM.match(line):
            values["host"], values["ip"] = m.group(1), m.group(2)
        elif m := _DEVICE.match(line):
            fmt = InfoFormat.SAVECORE
            values["device"] = m.group(1)
        elif line.startswith("Bad KDH"):
            values["bad_kdh"] = True
            if outcome is None:
                outcome, end_line = _bad_kdh_end(line), line
        elif (found := end_outcome(line)) is not None:
            outcome, end_line = found, line
        elif line.strip() and end_line is not None and end_line.startswith("Bad KDH"):
            outcome, end_line = None, None  # netdumpd goes on after a bad KDH: not the end
    if version is not None:
        values["version_string"] = "\n".join(version).rstrip("\n")
    parity = values.pop("parity", None)
    if fmt is InfoFormat.SAVECORE and parity is not None and "parity_ok" not in values:
        values["parity_ok"] = True  # savecore prints the word; it checked it before saving
    outcome = _final_outcome(fmt, values, outcome)
    return InfoFile(format=fmt, end_line=end_line, outcome=outcome, **values)  # type: ignore[arg-type]


def _bad_kdh_end(line: str) -> Outcome:
    """Our collector ends a dump at a bad KDH, with that line last (server/endings.py)."""
    detail = line.removeprefix("Bad KDH").lstrip(": ").strip()
    return Outcome(
        DumpState.FAILED, f"{Reason.BAD_KDH.value}: {detail}" if detail else Reason.BAD_KDH.value
    )


def _final_outcome(fmt: InfoFormat, values: dict[str, object], outcome: Outcome | None) -> Outcome:
    if fmt is InfoFormat.SAVECORE and outcome is None:
        status = values.get("status")
        if status == "good":
            return Outcome(DumpState.COMPLETE)
        return Outcome(DumpState.INCOMPLETE, f"{Reason.BAD_STATUS.value}: status {status}")
    if outcome is None:
        return Outcome(DumpState.INCOMPLETE, Reason.NO_END.value)
    if outcome.state is DumpState.COMPLETE and values.get("bad_kdh"):
        return Outcome(DumpState.INCOMPLETE, Reason.BAD_KDH.value)
    return outcome
