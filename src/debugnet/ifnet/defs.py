"""Values describing an interface: type, flags, capabilities, statistics."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum, IntFlag


class IfType(IntEnum):
    """IANA ifType numbers, the ones if.c cares about."""

    OTHER = 1
    ETHER = 6
    LOOP = 24


class IfFlags(IntFlag):
    """Interface flags, numbered as NetBSD (MONITOR as FreeBSD)."""

    UP = 0x1
    BROADCAST = 0x2
    DEBUG = 0x4
    LOOPBACK = 0x8
    POINTOPOINT = 0x10
    NOTRAILERS = 0x20
    RUNNING = 0x40
    NOARP = 0x80
    PROMISC = 0x100
    ALLMULTI = 0x200
    OACTIVE = 0x400
    SIMPLEX = 0x800
    LINK0 = 0x1000
    LINK1 = 0x2000
    LINK2 = 0x4000
    MULTICAST = 0x8000
    MONITOR = 0x40000


CANTCHANGE = (
    IfFlags.BROADCAST
    | IfFlags.POINTOPOINT
    | IfFlags.RUNNING
    | IfFlags.OACTIVE
    | IfFlags.SIMPLEX
    | IfFlags.MULTICAST
    | IfFlags.ALLMULTI
    | IfFlags.PROMISC
)
"""Flags only the kernel side may change; SIOCSIFFLAGS keeps their current value."""

DRIVER_FLAGS = IfFlags.LINK0 | IfFlags.LINK1 | IfFlags.LINK2
"""Flags whose meaning belongs to the driver."""


def flag_names(flags: int) -> list[str]:
    """Names of the set bits, lowest first, unknown bits as hex."""
    names = []
    for bit in range(32):
        value = 1 << bit
        if flags & value:
            try:
                names.append(IfFlags(value).name or hex(value))
            except ValueError:
                names.append(hex(value))
    return names


class IfCap(IntFlag):
    """Offload capabilities a driver may advertise."""

    CSUM_IPV4_RX = 0x0100
    CSUM_IPV4_TX = 0x0200
    CSUM_TCPV4_RX = 0x0400
    CSUM_TCPV4_TX = 0x0800
    CSUM_UDPV4_RX = 0x1000
    CSUM_UDPV4_TX = 0x2000
    VLAN_MTU = 0x10000


@dataclass(slots=True)
class IfStats:
    """The counters of ``if_data`` (mutable: the interface bumps them)."""

    ipackets: int = 0
    ierrors: int = 0
    opackets: int = 0
    oerrors: int = 0
    collisions: int = 0
    ibytes: int = 0
    obytes: int = 0
    imcasts: int = 0
    omcasts: int = 0
    iqdrops: int = 0
    oqdrops: int = 0
    noproto: int = 0

    def copy(self) -> IfStats:
        return dataclasses.replace(self)

    def zero(self) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, 0)
