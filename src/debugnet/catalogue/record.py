"""The values the catalogue stores and returns: one dump, a listing query, a group."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from debugnet.errors import InvalidArgument
from debugnet.triage.info import DumpState

_ID = re.compile(r"^(?:(?P<path>.+)/)?(?P<host>[^/]+)\.(?P<index>\d+)$")


def dump_id(path: str, host: str, index: int) -> str:
    """``host.N``, or ``path/host.N`` for a dump in a subdirectory of the dump directory."""
    return f"{path}/{host}.{index}" if path else f"{host}.{index}"


def split_id(text: str) -> tuple[str, str, int]:
    """(path, host, index) of an ID as ``dump_id`` writes it."""
    m = _ID.match(text)
    if m is None:
        raise InvalidArgument(f"{text!r} is not a dump ID (host.N or path/host.N)")
    return m.group("path") or "", m.group("host"), int(m.group("index"))


class Layout:
    """Names of the directory layouts (a class of constants, not an enum: stored as text)."""

    NETDUMPD = "netdumpd"
    SAVECORE = "savecore"


@dataclass(slots=True)
class DumpRecord:
    """One dump, as received or as found on disk. Times are Unix seconds."""

    host: str
    index: int
    started: float
    path: str = ""
    """The subdirectory of the dump directory the dump belongs to ('' for the top)."""
    layout: str = Layout.NETDUMPD
    ip: str | None = None
    files: list[str] = field(default_factory=list)
    """File names, relative to the dump directory."""
    state: DumpState = DumpState.RECEIVING
    reason: str | None = None
    last_data: float | None = None
    ended: float | None = None
    bytes: int = 0
    """Dump data written (not counting the KDH or the key)."""
    length: int | None = None
    """The KDH's dump length, once a KDH arrived."""
    kdh_version: int | None = None
    architecture: str | None = None
    architecture_version: int | None = None
    version_string: str | None = None
    panic: str | None = None
    dumptime: int | None = None
    hostname: str | None = None
    compression: str | None = None
    encrypted: bool | None = None
    parity_ok: bool | None = None
    handler: str | None = None
    """The reason the handler was run with (success, timeout, error), once it was."""
    handler_status: int | None = None
    signature: str | None = None
    signature_version: int | None = None
    collector: str = ""

    @property
    def id(self) -> str:
        return dump_id(self.path, self.host, self.index)

    @property
    def directory(self) -> str:
        """Where the files are, relative to the dump directory ('' for the top)."""
        if self.files:
            return self.files[0].rpartition("/")[0]
        if self.layout == Layout.SAVECORE:
            return f"{self.path}/{self.host}" if self.path else self.host
        return self.path


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Filters for ``Catalogue.dumps``; each is off when None."""

    host: str | None = None
    since: float | None = None
    state: DumpState | None = None
    signature: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """Dumps sharing a signature (after merges)."""

    signature: str
    count: int
    hosts: list[str]
    first_seen: float
    last_seen: float
    latest: str
    """The ID of the newest dump of the group."""
    titles: list[str] = field(default_factory=list)
    """Every signature merged into this one, itself included."""
