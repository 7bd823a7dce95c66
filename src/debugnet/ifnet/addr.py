"""Interface addresses and the ``ifa_*`` lookups of if.c.

Only IPv4 and link-level addresses exist here: that is all the debugnet
client speaks. A lookup walks the interfaces it is given in attach order and
skips detached ones, as if.c does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from debugnet.wire.ethernet import mac_to_str

if TYPE_CHECKING:
    from debugnet.ifnet.interface import Ifnet


class AddrFamily(IntEnum):
    INET = 2
    LINK = 18


@dataclass(frozen=True, slots=True)
class LinkAddress:
    """A link-level address (sockaddr_dl): the interface index and its MAC.

    Index 0 means "any interface" when used as a lookup key.
    """

    index: int
    lladdr: bytes

    def __str__(self) -> str:
        return mac_to_str(self.lladdr)


Sockaddr = IPv4Address | LinkAddress


def family_of(addr: Sockaddr) -> AddrFamily:
    return AddrFamily.INET if isinstance(addr, IPv4Address) else AddrFamily.LINK


@dataclass(frozen=True, slots=True, eq=False)
class IfAddr:
    """One address of one interface (struct ifaddr)."""

    addr: Sockaddr
    ifp: Ifnet
    netmask: IPv4Address | None = None
    broadaddr: IPv4Address | None = None
    dstaddr: IPv4Address | None = None

    @property
    def family(self) -> AddrFamily:
        return family_of(self.addr)

    def __repr__(self) -> str:
        return f"IfAddr({self.addr!s} on {self.ifp.name})"


def _equal(a: Sockaddr, b: Sockaddr) -> bool:
    if isinstance(a, LinkAddress) and isinstance(b, LinkAddress):
        same_index = a.index == 0 or b.index == 0 or a.index == b.index
        return same_index and a.lladdr == b.lladdr
    return a == b


def _in_net(addr: IPv4Address, ifa: IfAddr) -> bool:
    assert ifa.netmask is not None and isinstance(ifa.addr, IPv4Address)
    mask = int(ifa.netmask)
    return (int(addr) ^ int(ifa.addr)) & mask == 0


def refines(m1: IPv4Address, m2: IPv4Address) -> bool:
    """True when netmask ``m1`` is strictly more specific than ``m2`` (rt_refines)."""
    a, b = int(m1), int(m2)
    return a != b and a & b == b


def _live(ifps: Iterable[Ifnet]) -> Iterable[Ifnet]:
    return (ifp for ifp in ifps if not ifp.deactivated)


def ifa_ifwithaddr(ifps: Iterable[Ifnet], addr: Sockaddr) -> IfAddr | None:
    """The address equal to ``addr``, or whose broadcast address it is."""
    family = family_of(addr)
    for ifp in _live(ifps):
        for ifa in ifp.addrs:
            if ifa.family != family:
                continue
            if _equal(addr, ifa.addr):
                return ifa
            if ifp.is_broadcast and ifa.broadaddr is not None and ifa.broadaddr == addr:
                return ifa
    return None


def ifa_ifwithdstaddr(ifps: Iterable[Ifnet], addr: Sockaddr) -> IfAddr | None:
    """The point-to-point address whose peer is ``addr``."""
    for ifp in _live(ifps):
        if not ifp.is_pointopoint:
            continue
        for ifa in ifp.addrs:
            if ifa.dstaddr is not None and ifa.dstaddr == addr:
                return ifa
    return None


def ifa_ifwithnet(ifps: Iterable[Ifnet], addr: Sockaddr) -> IfAddr | None:
    """The address whose network holds ``addr``; the most specific one wins.

    A link-level key with an index names its interface directly.
    """
    if isinstance(addr, LinkAddress):
        for ifp in _live(ifps):
            if addr.index and ifp.index == addr.index:
                return ifp.link_ifa
        return None
    best: IfAddr | None = None
    for ifp in _live(ifps):
        for ifa in ifp.addrs:
            if ifa.family != AddrFamily.INET or ifa.netmask is None:
                continue
            if not _in_net(addr, ifa):
                continue
            if best is None or refines(ifa.netmask, best.netmask or IPv4Address(0)):
                best = ifa
    return best


def ifa_ifwithladdr(ifps: Iterable[Ifnet], addr: Sockaddr) -> IfAddr | None:
    """Own address, then point-to-point peer, then network: the first that matches."""
    ifps = tuple(ifps)
    return ifa_ifwithaddr(ifps, addr) or ifa_ifwithdstaddr(ifps, addr) or ifa_ifwithnet(ifps, addr)


def ifa_ifwithaf(ifps: Iterable[Ifnet], family: AddrFamily) -> IfAddr | None:
    """The first address of ``family`` on any live interface."""
    for ifp in _live(ifps):
        for ifa in ifp.addrs:
            if ifa.family == family:
                return ifa
    return None


def ifaof_ifpforaddr(addr: Sockaddr, ifp: Ifnet) -> IfAddr | None:
    """The address of ``ifp`` best suited to reach ``addr``.

    One whose network holds ``addr`` if any; without a netmask, an exact or
    peer match; failing all that, the last address of the family.
    """
    if ifp.deactivated:
        return None
    family = family_of(addr)
    maybe: IfAddr | None = None
    for ifa in ifp.addrs:
        if ifa.family != family:
            continue
        maybe = ifa
        if ifa.netmask is None:
            if _equal(addr, ifa.addr) or (ifa.dstaddr is not None and ifa.dstaddr == addr):
                return ifa
            continue
        if isinstance(addr, IPv4Address) and _in_net(addr, ifa):
            return ifa
    return maybe
