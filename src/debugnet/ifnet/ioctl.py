"""The common interface requests of if.c, as functions of the interface.

``ifioctl`` is doifioctl's entry point (the checks before any request);
``ifioctl_common`` answers the requests every interface understands and hands
the rest to the driver. Each request is also a function of its own
(``set_mtu(ifp, 1400)``). The driver sees every change through its ``ioctl``
before it takes effect and may refuse it by raising; a refused change leaves
the interface as it was. Failures raise the errno if.c returns.
"""

from __future__ import annotations

from collections.abc import Callable

from debugnet.errors import InvalidArgument, NoDevice, PermissionDenied
from debugnet.ifnet.defs import CANTCHANGE, IfCap, IfFlags, IfStats
from debugnet.ifnet.interface import Ifnet
from debugnet.ifnet.linkstate import IfEvent
from debugnet.ifnet.ops import IoctlCmd

PRIVILEGED = frozenset(
    {
        IoctlCmd.SIOCSIFFLAGS,
        IoctlCmd.SIOCSIFMTU,
        IoctlCmd.SIOCSIFMETRIC,
        IoctlCmd.SIOCSIFCAP,
        IoctlCmd.SIOCZIFDATA,
        IoctlCmd.SIOCADDMULTI,
        IoctlCmd.SIOCDELMULTI,
        IoctlCmd.SIOCSIFLLADDR,
    }
)
"""Requests that change the interface: refused (EPERM) to unprivileged callers."""

ETHER_ADDR_LEN = 6


def _driver(ifp: Ifnet, cmd: int, arg: object) -> None:
    ifp.ops.ioctl(ifp, cmd, arg)


# -- up and down ---------------------------------------------------------------


def if_down(ifp: Ifnet, now: float) -> None:
    """Mark down, drop what waits to be sent, tell listeners."""
    ifp.flags &= ~IfFlags.UP
    ifp.last_change = now
    ifp.snd.purge()
    ifp.notify(IfEvent.DOWN)


def if_up(ifp: Ifnet, now: float) -> None:
    ifp.flags |= IfFlags.UP
    ifp.last_change = now
    ifp.notify(IfEvent.UP)


def set_flags(ifp: Ifnet, requested: int, now: float) -> None:
    """SIOCSIFFLAGS: apply the changeable bits, bringing the driver up or down."""
    ifp.require_live()
    old = ifp.flags
    new = IfFlags((old & CANTCHANGE) | (requested & ~CANTCHANGE))
    _driver(ifp, IoctlCmd.SIOCSIFFLAGS, new)
    going_up = bool(new & IfFlags.UP) and not old & IfFlags.UP
    going_down = bool(old & IfFlags.UP) and not new & IfFlags.UP
    # ether_ioctl: marked up but stopped (a driver reset, say) means start it,
    # whether or not UP itself changed.
    if new & IfFlags.UP and not old & IfFlags.RUNNING:
        ifp.ops.init(ifp)
        new |= IfFlags.RUNNING
    if going_down:
        if_down(ifp, now)
        if old & IfFlags.RUNNING:
            ifp.ops.stop(ifp, True)
        new &= ~IfFlags.RUNNING
    ifp.flags = new
    if going_up:
        if_up(ifp, now)


def _flags_set(ifp: Ifnet, flags: IfFlags) -> None:
    """if_flags_set: change kernel-only bits, asking the driver unless pointless."""
    changed = ifp.flags ^ flags
    cant = changed & CANTCHANGE
    ifp.flags ^= cant
    if changed == IfFlags.PROMISC and not ifp.flags & IfFlags.UP:
        return
    try:
        _driver(ifp, IoctlCmd.SIOCSIFFLAGS, flags)
    except BaseException:
        ifp.flags ^= cant
        raise


def promisc(ifp: Ifnet, on: bool) -> None:
    """ifpromisc: a counter; only the first on and the last off reach the driver.

    A driver that refuses leaves the counter where it was.
    """
    ifp.require_live()
    pcount = ifp.pcount
    if on:
        ifp.pcount += 1
        if pcount != 0:
            return
        flags = ifp.flags | IfFlags.PROMISC
    else:
        if pcount == 0:
            raise InvalidArgument(f"{ifp.name}: promiscuous mode is not on")
        ifp.pcount -= 1
        if ifp.pcount > 0:
            return
        flags = ifp.flags & ~IfFlags.PROMISC
    try:
        _flags_set(ifp, flags)
    except BaseException:
        ifp.pcount = pcount
        raise


# -- numbers -------------------------------------------------------------------


def set_metric(ifp: Ifnet, metric: int) -> None:
    ifp.require_live()
    _driver(ifp, IoctlCmd.SIOCSIFMETRIC, metric)
    ifp.metric = metric


def set_mtu(ifp: Ifnet, mtu: int) -> None:
    """SIOCSIFMTU within the driver's range; listeners hear of a change."""
    ifp.require_live()
    if mtu == ifp.mtu:
        return
    if not ifp.min_mtu <= mtu <= ifp.max_mtu:
        raise InvalidArgument(f"{ifp.name}: mtu {mtu} outside {ifp.min_mtu}..{ifp.max_mtu}")
    _driver(ifp, IoctlCmd.SIOCSIFMTU, mtu)
    ifp.mtu = mtu
    ifp.notify(IfEvent.MTU)


def set_capenable(ifp: Ifnet, caps: int) -> None:
    """SIOCSIFCAP: only advertised capabilities; a running interface is re-inited."""
    ifp.require_live()
    if caps & ~ifp.capabilities:
        raise InvalidArgument(f"{ifp.name}: capabilities {caps:#x} not supported")
    if caps == ifp.capenable:
        return
    _driver(ifp, IoctlCmd.SIOCSIFCAP, IfCap(caps))
    ifp.capenable = IfCap(caps)
    if ifp.flags & IfFlags.UP:
        ifp.ops.init(ifp)


# -- statistics ----------------------------------------------------------------


def stats_snapshot(ifp: Ifnet) -> IfStats:
    """SIOCGIFDATA: a copy, so later traffic does not change what was read."""
    ifp.require_live()
    return ifp.stats.copy()


def zero_stats(ifp: Ifnet, now: float) -> IfStats:
    """SIOCZIFDATA: the counters as they were, then zeroed."""
    ifp.require_live()
    before = ifp.stats.copy()
    ifp.stats.zero()
    ifp.last_change = now
    return before


# -- multicast -----------------------------------------------------------------


def add_multi(ifp: Ifnet, mac: bytes) -> None:
    """Join a link-level multicast group; the driver hears only the first join."""
    ifp.require_live()
    if len(mac) != ETHER_ADDR_LEN or not mac[0] & 1:
        raise InvalidArgument(f"{ifp.name}: {mac.hex(':')} is not a multicast address")
    mac = bytes(mac)
    if mac in ifp.multi:
        ifp.multi[mac] += 1
        return
    ifp.multi[mac] = 1
    try:
        _driver(ifp, IoctlCmd.SIOCADDMULTI, mac)
    except BaseException:
        del ifp.multi[mac]
        raise


def del_multi(ifp: Ifnet, mac: bytes) -> None:
    """Leave a group; ENXIO for one never joined (ether_delmulti)."""
    ifp.require_live()
    mac = bytes(mac)
    count = ifp.multi.get(mac)
    if count is None:
        raise NoDevice(f"{ifp.name}: not a member of {mac.hex(':')}")
    if count > 1:
        ifp.multi[mac] = count - 1
        return
    del ifp.multi[mac]
    _driver(ifp, IoctlCmd.SIOCDELMULTI, mac)


# -- the numbered entry points -------------------------------------------------


def _int(arg: object) -> int:
    if not isinstance(arg, int):
        raise InvalidArgument(f"expected an integer argument, got {arg!r}")
    return arg


def _bytes(arg: object) -> bytes:
    if not isinstance(arg, bytes | bytearray):
        raise InvalidArgument(f"expected an address, got {arg!r}")
    return bytes(arg)


_GETTERS: dict[int, Callable[[Ifnet, float], object]] = {
    IoctlCmd.SIOCGIFFLAGS: lambda ifp, now: ifp.flags,
    IoctlCmd.SIOCGIFMTU: lambda ifp, now: ifp.mtu,
    IoctlCmd.SIOCGIFMETRIC: lambda ifp, now: ifp.metric,
    IoctlCmd.SIOCGIFINDEX: lambda ifp, now: ifp.index,
    IoctlCmd.SIOCGIFCAP: lambda ifp, now: (ifp.capabilities, ifp.capenable),
    IoctlCmd.SIOCGIFDATA: lambda ifp, now: stats_snapshot(ifp),
    IoctlCmd.SIOCZIFDATA: zero_stats,
}
"""Requests that answer with a value."""

_SETTERS: dict[int, Callable[[Ifnet, object, float], None]] = {
    IoctlCmd.SIOCSIFFLAGS: lambda ifp, arg, now: set_flags(ifp, _int(arg), now),
    IoctlCmd.SIOCSIFMTU: lambda ifp, arg, now: set_mtu(ifp, _int(arg)),
    IoctlCmd.SIOCSIFMETRIC: lambda ifp, arg, now: set_metric(ifp, _int(arg)),
    IoctlCmd.SIOCSIFCAP: lambda ifp, arg, now: set_capenable(ifp, _int(arg)),
    IoctlCmd.SIOCADDMULTI: lambda ifp, arg, now: add_multi(ifp, _bytes(arg)),
    IoctlCmd.SIOCDELMULTI: lambda ifp, arg, now: del_multi(ifp, _bytes(arg)),
    IoctlCmd.SIOCSIFLLADDR: lambda ifp, arg, now: ifp.replace_lladdr(_bytes(arg)),
}
"""Requests that change the interface and answer nothing."""


def ifioctl_common(ifp: Ifnet, cmd: int, data: object = None, now: float = 0.0) -> object:
    """The requests every interface knows; any other goes to the driver (ENOTTY
    from a driver that does not know it either)."""
    getter = _GETTERS.get(cmd)
    if getter is not None:
        return getter(ifp, now)
    setter = _SETTERS.get(cmd)
    if setter is not None:
        setter(ifp, data, now)
        return None
    _driver(ifp, cmd, data)
    return None


def ifioctl(
    ifp: Ifnet, cmd: int, data: object = None, *, now: float = 0.0, privileged: bool = True
) -> object:
    """doifioctl: the numbered entry point.

    EPERM for SIOCINITIFADDR always; then, as doifioctl looks the interface
    up before asking kauth, ENXIO on a detached interface before EPERM for
    changes by unprivileged callers; ENOTTY when nobody knows the request.
    """
    if cmd == IoctlCmd.SIOCINITIFADDR:
        raise PermissionDenied("SIOCINITIFADDR is for the kernel only")
    ifp.require_live()
    if cmd in PRIVILEGED and not privileged:
        raise PermissionDenied(f"{ifp.name}: request {cmd} needs privilege")
    return ifioctl_common(ifp, cmd, data, now)
