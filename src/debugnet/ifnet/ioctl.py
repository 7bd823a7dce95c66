"""The common interface requests of ifioctl_common/if_flags_set/ifpromisc.

Each request is a method. The driver sees every change through its ``ioctl``
before it takes effect and may refuse it by raising; a refused change leaves
the interface as it was. Failures raise the errno if.c returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from debugnet.errors import InvalidArgument, NoDevice, PermissionDenied
from debugnet.ifnet.defs import CANTCHANGE, IfCap, IfFlags, IfStats
from debugnet.ifnet.linkstate import IfEvent, IfNotice
from debugnet.ifnet.ops import IfOps, IoctlCmd
from debugnet.ifnet.queue import IfQueue

if TYPE_CHECKING:
    from debugnet.ifnet.addr import IfAddr
    from debugnet.ifnet.interface import Ifnet

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


class CommonIoctls:
    """Mixed into ``Ifnet``; the attributes below are the interface's own."""

    name: str
    ops: IfOps
    flags: IfFlags
    mtu: int
    min_mtu: int
    max_mtu: int
    metric: int
    index: int
    pcount: int
    capabilities: IfCap
    capenable: IfCap
    stats: IfStats
    last_change: float
    snd: IfQueue
    lladdr: bytes
    multi: dict[bytes, int]
    _emit: Callable[[IfNotice], None]

    @property
    def deactivated(self) -> bool:
        raise NotImplementedError

    @property
    def link_ifa(self) -> IfAddr | None:
        raise NotImplementedError

    def _require_live(self) -> None:
        if self.deactivated:
            raise NoDevice(f"{self.name}: interface detached")

    def _ifp(self) -> Ifnet:
        return cast("Ifnet", self)

    def _driver(self, cmd: int, arg: object) -> None:
        self.ops.ioctl(self._ifp(), cmd, arg)

    # -- up and down -------------------------------------------------------

    def if_down(self, now: float) -> None:
        """Mark down, drop what waits to be sent, tell listeners."""
        self.flags &= ~IfFlags.UP
        self.last_change = now
        self.snd.purge()
        self._emit(IfNotice(IfEvent.DOWN, self._ifp()))

    def if_up(self, now: float) -> None:
        self.flags |= IfFlags.UP
        self.last_change = now
        self._emit(IfNotice(IfEvent.UP, self._ifp()))

    def set_flags(self, requested: int, now: float) -> None:
        """SIOCSIFFLAGS: apply the changeable bits, bringing the driver up or down."""
        self._require_live()
        old = self.flags
        new = IfFlags((old & CANTCHANGE) | (requested & ~CANTCHANGE))
        self._driver(IoctlCmd.SIOCSIFFLAGS, new)
        going_up = bool(new & IfFlags.UP) and not old & IfFlags.UP
        going_down = bool(old & IfFlags.UP) and not new & IfFlags.UP
        # ether_ioctl: marked up but stopped (a driver reset, say) means start it,
        # whether or not UP itself changed.
        if new & IfFlags.UP and not old & IfFlags.RUNNING:
            self.ops.init(self._ifp())
            new |= IfFlags.RUNNING
        if going_down:
            self.if_down(now)
            if old & IfFlags.RUNNING:
                self.ops.stop(self._ifp(), True)
            new &= ~IfFlags.RUNNING
        self.flags = new
        if going_up:
            self.if_up(now)

    def _flags_set(self, flags: IfFlags) -> None:
        """if_flags_set: change kernel-only bits, asking the driver unless pointless."""
        changed = self.flags ^ flags
        cant = changed & CANTCHANGE
        self.flags ^= cant
        if changed == IfFlags.PROMISC and not self.flags & IfFlags.UP:
            return
        try:
            self._driver(IoctlCmd.SIOCSIFFLAGS, flags)
        except BaseException:
            self.flags ^= cant
            raise

    def promisc(self, on: bool) -> None:
        """ifpromisc: a counter; only the first on and the last off reach the driver.

        A driver that refuses leaves the counter where it was.
        """
        self._require_live()
        pcount = self.pcount
        if on:
            self.pcount += 1
            if pcount != 0:
                return
            flags = self.flags | IfFlags.PROMISC
        else:
            if pcount == 0:
                raise InvalidArgument(f"{self.name}: promiscuous mode is not on")
            self.pcount -= 1
            if self.pcount > 0:
                return
            flags = self.flags & ~IfFlags.PROMISC
        try:
            self._flags_set(flags)
        except BaseException:
            self.pcount = pcount
            raise

    # -- numbers -----------------------------------------------------------

    def set_metric(self, metric: int) -> None:
        self._require_live()
        self._driver(IoctlCmd.SIOCSIFMETRIC, metric)
        self.metric = metric

    def set_mtu(self, mtu: int) -> None:
        """SIOCSIFMTU within the driver's range; listeners hear of a change."""
        self._require_live()
        if mtu == self.mtu:
            return
        if not self.min_mtu <= mtu <= self.max_mtu:
            raise InvalidArgument(f"{self.name}: mtu {mtu} outside {self.min_mtu}..{self.max_mtu}")
        self._driver(IoctlCmd.SIOCSIFMTU, mtu)
        self.mtu = mtu
        self._emit(IfNotice(IfEvent.MTU, self._ifp()))

    def set_capenable(self, caps: int) -> None:
        """SIOCSIFCAP: only advertised capabilities; a running interface is re-inited."""
        self._require_live()
        if caps & ~self.capabilities:
            raise InvalidArgument(f"{self.name}: capabilities {caps:#x} not supported")
        if caps == self.capenable:
            return
        self._driver(IoctlCmd.SIOCSIFCAP, IfCap(caps))
        self.capenable = IfCap(caps)
        if self.flags & IfFlags.UP:
            self.ops.init(self._ifp())

    # -- statistics --------------------------------------------------------

    def stats_snapshot(self) -> IfStats:
        """SIOCGIFDATA: a copy, so later traffic does not change what was read."""
        self._require_live()
        return self.stats.copy()

    def zero_stats(self, now: float) -> IfStats:
        """SIOCZIFDATA: the counters as they were, then zeroed."""
        self._require_live()
        before = self.stats.copy()
        self.stats.zero()
        self.last_change = now
        return before

    # -- multicast ---------------------------------------------------------

    def add_multi(self, mac: bytes) -> None:
        """Join a link-level multicast group; the driver hears only the first join."""
        self._require_live()
        if len(mac) != ETHER_ADDR_LEN or not mac[0] & 1:
            raise InvalidArgument(f"{self.name}: {mac.hex(':')} is not a multicast address")
        mac = bytes(mac)
        if mac in self.multi:
            self.multi[mac] += 1
            return
        self.multi[mac] = 1
        try:
            self._driver(IoctlCmd.SIOCADDMULTI, mac)
        except BaseException:
            del self.multi[mac]
            raise

    def del_multi(self, mac: bytes) -> None:
        """Leave a group; ENXIO for one never joined (ether_delmulti)."""
        self._require_live()
        mac = bytes(mac)
        count = self.multi.get(mac)
        if count is None:
            raise NoDevice(f"{self.name}: not a member of {mac.hex(':')}")
        if count > 1:
            self.multi[mac] = count - 1
            return
        del self.multi[mac]
        self._driver(IoctlCmd.SIOCDELMULTI, mac)

    # -- the ioctl entry point --------------------------------------------

    def ioctl(
        self, cmd: int, arg: object = None, *, now: float = 0.0, privileged: bool = True
    ) -> object:
        """doifioctl: the numbered entry point; unknown requests go to the driver.

        EPERM for SIOCINITIFADDR always; then, as doifioctl looks the interface
        up before asking kauth, ENXIO on a detached interface before EPERM for
        changes by unprivileged callers; ENOTTY when nobody knows the request.
        """
        if cmd == IoctlCmd.SIOCINITIFADDR:
            raise PermissionDenied("SIOCINITIFADDR is for the kernel only")
        self._require_live()
        if cmd in PRIVILEGED and not privileged:
            raise PermissionDenied(f"{self.name}: request {cmd} needs privilege")
        return self._dispatch(cmd, arg, now)

    def _dispatch(self, cmd: int, arg: object, now: float) -> object:
        if cmd == IoctlCmd.SIOCGIFFLAGS:
            return self.flags
        if cmd == IoctlCmd.SIOCGIFMTU:
            return self.mtu
        if cmd == IoctlCmd.SIOCGIFMETRIC:
            return self.metric
        if cmd == IoctlCmd.SIOCGIFINDEX:
            return self.index
        if cmd == IoctlCmd.SIOCGIFCAP:
            return (self.capabilities, self.capenable)
        if cmd == IoctlCmd.SIOCGIFDATA:
            return self.stats_snapshot()
        if cmd == IoctlCmd.SIOCZIFDATA:
            return self.zero_stats(now)
        setters: dict[int, Callable[[], None]] = {
            IoctlCmd.SIOCSIFFLAGS: lambda: self.set_flags(_int(arg), now),
            IoctlCmd.SIOCSIFMTU: lambda: self.set_mtu(_int(arg)),
            IoctlCmd.SIOCSIFMETRIC: lambda: self.set_metric(_int(arg)),
            IoctlCmd.SIOCSIFCAP: lambda: self.set_capenable(_int(arg)),
            IoctlCmd.SIOCADDMULTI: lambda: self.add_multi(_bytes(arg)),
            IoctlCmd.SIOCDELMULTI: lambda: self.del_multi(_bytes(arg)),
            IoctlCmd.SIOCSIFLLADDR: lambda: self._ifp().replace_lladdr(_bytes(arg)),
        }
        setter = setters.get(cmd)
        if setter is not None:
            setter()
            return None
        self._driver(cmd, arg)
        return None


def _int(arg: object) -> int:
    if not isinstance(arg, int):
        raise InvalidArgument(f"expected an integer argument, got {arg!r}")
    return arg


def _bytes(arg: object) -> bytes:
    if not isinstance(arg, bytes | bytearray):
        raise InvalidArgument(f"expected an address, got {arg!r}")
    return bytes(arg)
