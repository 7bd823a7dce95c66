"""The proxy's front door, sans-I/O: which heralds open a session, and the running sessions.

A herald is accepted only with aux2 = 0x2515f095 (netgdb protocol v1) and
from an allowed network; anything else is refused with a log line and no
answer. A herald again from a kernel whose session has seen no data yet is
a retransmission (our ack was lost): it is acked again from the session port.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from debugnet.errors import WireError
from debugnet.netgdb.session import KernelSession
from debugnet.transport.duplex_config import DuplexConfig
from debugnet.transport.server_session import parse_herald
from debugnet.wire.constants import NETGDB_AUX2

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network
ALLOW_ALL = (Network("0.0.0.0/0"),)


class Verdict(Enum):
    NEW = "new session"
    AGAIN = "herald retransmission"
    NOT_HERALD = "not a herald"
    WRONG_AUX2 = "herald aux2 is not netgdb's"
    NOT_ALLOWED = "source not in an allowed network"


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    allow: tuple[Network, ...] = ALLOW_ALL
    duplex: DuplexConfig = field(default_factory=DuplexConfig)


class ProxyCore:
    """Herald checks and the registry of kernel sessions, keyed by (ip, port)."""

    def __init__(self, config: ProxyConfig | None = None) -> None:
        self.config = config or ProxyConfig()
        self.sessions: dict[tuple[str, int], KernelSession] = {}
        self.counters: Counter[str] = Counter()

    def allowed(self, ip: str) -> bool:
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.config.allow)

    def herald(
        self, payload: bytes, src: tuple[str, int], now: float
    ) -> tuple[Verdict, KernelSession | None]:
        """Judge one datagram to the herald port; a NEW session needs a socket and a gdb port."""
        verdict, session = self._judge(payload, src, now)
        self.counters[verdict.value] += 1
        if verdict in (Verdict.NEW, Verdict.AGAIN):
            log.debug("%s:%d: %s", src[0], src[1], verdict.value)
        else:
            log.warning("refused herald from %s:%d: %s", src[0], src[1], verdict.value)
        return verdict, session

    def _judge(
        self, payload: bytes, src: tuple[str, int], now: float
    ) -> tuple[Verdict, KernelSession | None]:
        try:
            herald = parse_herald(payload)
        except WireError:
            return Verdict.NOT_HERALD, None
        if herald.aux2 != NETGDB_AUX2:
            return Verdict.WRONG_AUX2, None
        if not self.allowed(src[0]):
            return Verdict.NOT_ALLOWED, None
        old = self.sessions.get(src)
        if old is not None and old.end_reason is None:
            if old.duplex.receive_herald(herald.seqno, now):
                return Verdict.AGAIN, old
            log.info("%s: heralded again after data; ending the old session", old.label)
            old.abandon(now)
        session = KernelSession(src, herald.seqno, now, self.config.duplex)
        self.sessions[src] = session
        return Verdict.NEW, session

    def remove(self, session: KernelSession) -> None:
        if self.sessions.get(session.kernel) is session:
            del self.sessions[session.kernel]
