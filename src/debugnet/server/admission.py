"""Who may start a session: the allowlist, the session limits, and displacing idle heralds.

The protocol has no authentication and a herald costs a forger one datagram,
so the listener asks ``Admission`` before it starts a worker. A herald from
outside ``--allow`` is refused; at ``--max-sessions`` (the whole server) or
``--max-sessions-per-net`` (the herald's /24) the session that has been
silent longest in that scope is displaced, if it is still herald-only (no
KDH, key or data yet) and has been silent at least ``displace_after``
seconds: a kernel sends its first data within milliseconds of the ack, so a
flood of forged heralds can fill the table but cannot keep a real client
out. Otherwise the herald is refused. Pure policy: no sockets, ``now`` given.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)

LOG_EVERY = 60.0
"""Seconds between two log lines for the same refusal reason."""


class Refusal(StrEnum):
    """Why a herald was not answered; the values are counter names."""

    NOT_ALLOWED = "refused: not allowed"
    MAX_SESSIONS = "refused: max sessions"
    MAX_PER_NET = "refused: max sessions per net"
    NO_RESOURCES = "refused: no resources"
    WRONG_SOURCE_PORT = "refused: wrong source port"
    """Also counted as the listener's ``wrong source port``: kernels send from 20024."""
    DISK_FLOOR = "refused: disk floor"
    NO_INDEX = "refused: no free dump index"


OPERATOR_ACTION = frozenset({Refusal.DISK_FLOOR, Refusal.NO_INDEX, Refusal.NO_RESOURCES})
"""Refusals the operator must act on: logged as errors, the others as warnings."""


class Occupant(Protocol):
    """What admission needs to know of a running session."""

    @property
    def client_ip(self) -> str: ...

    def herald_only_silence(self, now: float) -> float | None:
        """Seconds silent if the session is still herald-only and not ending, else None."""
        ...


def net_of(ip: str) -> str:
    """The /24 an IPv4 address is in, as the per-net limit counts."""
    return ip.rsplit(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Decision:
    refusal: Refusal | None = None
    displace: Occupant | None = None
    """Admitted only once this session has been ended."""


@dataclass(slots=True)
class Admission:
    allow: Sequence[str] = ()
    """CIDR networks allowed to send heralds; empty: everyone."""
    max_sessions: int = 256
    max_per_net: int = 32
    displace_after: float = 2.0
    _nets: list[ipaddress.IPv4Network] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._nets = [ipaddress.IPv4Network(a, strict=False) for a in self.allow]

    def describe(self) -> str:
        """The start-up line: who may send heralds and how many sessions are kept."""
        who = ", ".join(str(n) for n in self._nets) if self._nets else "everyone"
        return (
            f"heralds accepted from {who}; at most {self.max_sessions} sessions, "
            f"{self.max_per_net} per /24"
        )

    def allowed(self, ip: str) -> bool:
        if not self._nets:
            return True
        addr = ipaddress.IPv4Address(ip)
        return any(addr in n for n in self._nets)

    def decide(self, ip: str, sessions: Iterable[Occupant], now: float) -> Decision:
        """Admit, refuse, or admit after displacing one herald-only session."""
        if not self.allowed(ip):
            return Decision(Refusal.NOT_ALLOWED)
        everyone = list(sessions)
        net = net_of(ip)
        same_net = [s for s in everyone if net_of(s.client_ip) == net]
        # The /24 first: a victim there frees a place in both scopes at once.
        for scope, limit, refusal in (
            (same_net, self.max_per_net, Refusal.MAX_PER_NET),
            (everyone, self.max_sessions, Refusal.MAX_SESSIONS),
        ):
            if len(scope) >= limit:
                victim = self._longest_silent(scope, now)
                return Decision(refusal) if victim is None else Decision(displace=victim)
        return Decision()

    def _longest_silent(self, scope: list[Occupant], now: float) -> Occupant | None:
        best: Occupant | None = None
        longest = self.displace_after
        for s in scope:
            silence = s.herald_only_silence(now)
            if silence is not None and silence >= longest:
                best, longest = s, silence
        return best


@dataclass(slots=True)
class RateLimitedLog:
    """A warning per reason at most once every ``every`` seconds, with the count since."""

    every: float = LOG_EVERY
    _last: dict[str, float] = field(default_factory=dict)
    _since: dict[str, int] = field(default_factory=dict)

    def warn(self, reason: str, message: str, now: float, level: int = logging.WARNING) -> bool:
        """Log ``message`` unless this reason was logged less than ``every`` ago."""
        last = self._last.get(reason)
        if last is not None and now - last < self.every:
            self._since[reason] = self._since.get(reason, 0) + 1
            return False
        more = self._since.pop(reason, 0)
        suffix = f" ({more} more since the last such line)" if more else ""
        log.log(level, "%s%s", message, suffix)
        self._last[reason] = now
        return True
