"""The interface (struct ifnet): its state, transmit and input paths, addresses."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from debugnet.errors import (
    Exists,
    InvalidArgument,
    NetworkDown,
    NoBuffers,
    NoDevice,
    error_for_errno,
)
from debugnet.ifnet.addr import IfAddr, LinkAddress
from debugnet.ifnet.defs import IfCap, IfFlags, IfStats, IfType
from debugnet.ifnet.linkstate import IfEvent, IfNotice, LinkState, LinkStateQueue
from debugnet.ifnet.ops import NULL_OPS, IfOps, IoctlCmd, Tap, TapDirection
from debugnet.ifnet.queue import IFQ_MAXLEN, IfQueue
from debugnet.ifnet.rxinfo import NO_RXINFO, RxInfo

log = logging.getLogger(__name__)

ETHER_HDR_LEN = 14
_UP_RUNNING = int(IfFlags.UP | IfFlags.RUNNING)
_MONITOR = int(IfFlags.MONITOR)
_OACTIVE = int(IfFlags.OACTIVE)
_TX_MASK = _UP_RUNNING | _MONITOR
_ALL_ONES = 0xFFFFFFFF
_QUEUE_FULL = frozenset({errno.EAGAIN, errno.ENOBUFS})

InputHook = Callable[["Ifnet", bytes, RxInfo], None]
"""Gets the interface, the frame and what the driver knows about it."""


def _no_listener(notice: IfNotice) -> None:
    """Before attach nobody listens."""


class Ifnet:
    """One network interface.

    Drivers create it with their ``IfOps`` and hand it to ``IfTable.attach``;
    ``softc`` is the driver's private state. The table tells the interface of
    its attach and detach through ``attached`` and ``detached``; the common
    requests (``ifnet.ioctl``) are functions of the interface. Counters live in ``stats``, the
    send and receive queues in ``snd`` and ``rcv``, BPF-style taps in ``taps``.
    """

    __slots__ = (
        "_emit",
        "_inet",
        "_link_ifa",
        "_mtu",
        "_tx_limit",
        "capabilities",
        "capenable",
        "flag_bits",
        "hdrlen",
        "index",
        "index_gen",
        "input_hook",
        "last_change",
        "link_queue",
        "link_state",
        "lladdr",
        "max_mtu",
        "metric",
        "min_mtu",
        "multi",
        "name",
        "ops",
        "pcount",
        "rcv",
        "refcnt",
        "snd",
        "softc",
        "stats",
        "taps",
        "timer",
        "tx_direct",
        "type",
    )

    def __init__(
        self,
        name: str,
        ops: IfOps,
        *,
        if_type: IfType = IfType.ETHER,
        lladdr: bytes = b"",
        mtu: int = 1500,
        min_mtu: int = 68,
        max_mtu: int | None = None,
        flags: int = 0,
        hdrlen: int = ETHER_HDR_LEN,
        snd_maxlen: int = IFQ_MAXLEN,
        rcv_maxlen: int = IFQ_MAXLEN,
        capabilities: int = 0,
        softc: Any = None,
    ) -> None:
        if not name or len(name) >= 16:
            raise InvalidArgument(f"interface name {name!r} must have 1 to 15 characters")
        self.name = name
        self.ops = ops
        self.type = if_type
        self.lladdr = bytes(lladdr)
        self.hdrlen = hdrlen
        self.mtu = mtu
        self.min_mtu = min_mtu
        self.max_mtu = mtu if max_mtu is None else max_mtu
        self.flag_bits = int(flags)
        self.metric = 0
        self.index = 0
        self.index_gen = -1
        self.refcnt = 0
        self.pcount = 0
        self.timer = 0
        self.capabilities = IfCap(capabilities)
        self.capenable = IfCap(0)
        self.link_state = LinkState.UNKNOWN
        self.link_queue = LinkStateQueue()
        self.last_change = 0.0
        self.stats = IfStats()
        self.snd = IfQueue(snd_maxlen)
        self.rcv = IfQueue(rcv_maxlen)
        self.taps: list[Tap] = []
        self.multi: dict[bytes, int] = {}
        self.softc = softc
        self.input_hook: InputHook | None = None
        self.tx_direct: Callable[[bytes], object] | None = None
        self._inet: list[IfAddr] = []
        self._link_ifa: IfAddr | None = None
        self._emit: Callable[[IfNotice], None] = _no_listener

    def __repr__(self) -> str:
        return f"<Ifnet {self.name} index={self.index} gen={self.index_gen}>"

    # -- state ---------------------------------------------------------------

    @property
    def mtu(self) -> int:
        return self._mtu

    @mtu.setter
    def mtu(self, value: int) -> None:
        self._mtu = value
        self._tx_limit = value + self.hdrlen

    @property
    def flags(self) -> IfFlags:
        """The flags as an ``IfFlags``; stored as a plain int because IntFlag
        arithmetic costs a microsecond per operation on the transmit path."""
        return IfFlags(self.flag_bits)

    @flags.setter
    def flags(self, value: int) -> None:
        self.flag_bits = int(value)

    @property
    def deactivated(self) -> bool:
        return self.ops is NULL_OPS

    @property
    def is_broadcast(self) -> bool:
        return bool(self.flags & IfFlags.BROADCAST)

    @property
    def is_pointopoint(self) -> bool:
        return bool(self.flags & IfFlags.POINTOPOINT)

    @property
    def is_up_and_running(self) -> bool:
        return self.flag_bits & _UP_RUNNING == _UP_RUNNING

    def require_live(self) -> None:
        """ENXIO once detached: every request checks this first."""
        if self.ops is NULL_OPS:
            raise NoDevice(f"{self.name}: interface detached")

    def notify(self, event: IfEvent) -> None:
        """Tell the table's listeners (nobody before attach or after detach)."""
        self._emit(IfNotice(event, self))

    # -- attach and detach hooks (called by IfTable) ---------------------------

    def attached(self, index: int, generation: int, emit: Callable[[IfNotice], None]) -> None:
        """The table gave this interface ``index``; ``emit`` reaches its listeners."""
        self.index = index
        self.index_gen = generation
        self._set_link_ifa()
        self._emit = emit

    def detached(self) -> None:
        """The table unlisted this interface: forget the link address, queued link
        changes and the watchdog, tell listeners DETACH, then tell them nothing more."""
        self._link_ifa = None
        self.link_queue.clear()
        self.timer = 0
        self._emit(IfNotice(IfEvent.DETACH, self))
        self._emit = _no_listener

    def deactivate(self) -> None:
        """if_deactivate: point every operation at the null stubs, accept no more frames."""
        self.ops = NULL_OPS
        self.snd.maxlen = 0
        self.input_hook = None
        self.tx_direct = None

    # -- transmit and input ----------------------------------------------------

    def transmit(self, frame: bytes) -> None:
        """Queue ``frame`` for the driver and start it.

        ENXIO once detached, ENETDOWN unless up and running (or in monitor
        mode), ENOBUFS for a frame over the MTU or a full send queue (the
        frame is dropped and counted in ``oqdrops``; for a driver sending
        directly, a socket answering EAGAIN or ENOBUFS is such a full queue).
        """
        flags = self.flag_bits
        if flags & _TX_MASK != _UP_RUNNING:
            if self.ops is NULL_OPS:
                raise NoDevice(f"{self.name}: interface detached")
            raise NetworkDown(f"{self.name}: interface is not up and running")
        size = len(frame)
        if size > self._tx_limit:
            raise NoBuffers(f"{self.name}: {size}-byte frame exceeds mtu {self.mtu}")
        direct = self.tx_direct
        if direct is not None:
            # Inlined on purpose: this is the per-frame path of socket drivers.
            taps = self.taps
            if taps:
                for tap in taps:
                    tap(TapDirection.OUT, frame)
            try:
                direct(frame)
            except OSError as exc:
                if exc.errno in _QUEUE_FULL:
                    # The socket buffer is the driver's send queue: full means a drop.
                    self.stats.oqdrops += 1
                    raise NoBuffers(f"{self.name}: send queue full") from exc
                self.stats.oerrors += 1
                raise error_for_errno(exc.errno or 0, f"{self.name}: {exc.strerror}") from exc
            stats = self.stats
            stats.opackets += 1
            stats.obytes += size
            if frame[0] & 1:
                stats.omcasts += 1
            return
        ops = self.ops
        if ops is NULL_OPS:
            raise NoDevice(f"{self.name}: interface detached")
        if not self.snd.enqueue(frame):
            self.stats.oqdrops += 1
            raise NoBuffers(f"{self.name}: send queue full")
        if not flags & _OACTIVE:
            ops.start(self)

    def input(self, frame: bytes, rx: RxInfo = NO_RXINFO) -> bool:
        """A frame arrived (if_input): count, tap, then divert or queue for the stack.

        ``rx`` carries the driver's per-frame flags (checksum status, a stripped
        VLAN tag) to a diverted input hook; the queue keeps only the bytes.

        Returns False when the frame was dropped (detached interface, or a full
        receive queue, counted in ``iqdrops``).
        """
        if self.ops is NULL_OPS:
            return False
        stats = self.stats
        stats.ipackets += 1
        stats.ibytes += len(frame)
        if frame and frame[0] & 1:
            stats.imcasts += 1
        for tap in self.taps:
            tap(TapDirection.IN, frame)
        hook = self.input_hook
        if hook is not None:
            hook(self, frame, rx)
            return True
        if not self.rcv.enqueue(frame):
            stats.iqdrops += 1
            return False
        return True

    def dequeue_input(self) -> bytes | None:
        """The next received frame for the stack, or None."""
        return self.rcv.dequeue()

    # -- link state --------------------------------------------------------------

    def link_state_change(self, state: int) -> bool:
        """A driver reports a link change; it is queued, not applied (see IfTable).

        An invalid state is ignored with a log line, as if.c does.
        """
        try:
            link_state = LinkState(state)
        except ValueError:
            log.warning("%s: invalid link state %r ignored", self.name, state)
            return False
        return self.link_queue.push(link_state, self.name)

    # -- addresses ------------------------------------------------------------------

    @property
    def link_ifa(self) -> IfAddr | None:
        return self._link_ifa

    @property
    def addrs(self) -> list[IfAddr]:
        """Every address, the link-level one first (as if_addrlist)."""
        head = [self._link_ifa] if self._link_ifa is not None else []
        return head + self._inet

    def inet_addrs(self) -> list[IfAddr]:
        return list(self._inet)

    def _set_link_ifa(self) -> None:
        if self.lladdr and self.index:
            self._link_ifa = IfAddr(LinkAddress(self.index, self.lladdr), self)
        else:
            self._link_ifa = None

    def add_inet(
        self,
        addr: IPv4Address | str,
        netmask: IPv4Address | str,
        *,
        broadcast: IPv4Address | str | None = None,
        dest: IPv4Address | str | None = None,
    ) -> IfAddr:
        """Add an IPv4 address. EEXIST if already here; EINVAL for a peer on a
        non-point-to-point interface. A broadcast interface gets the network's
        broadcast address unless one is given."""
        self.require_live()
        ip, mask = IPv4Address(addr), IPv4Address(netmask)
        if any(ifa.addr == ip for ifa in self._inet):
            raise Exists(f"{self.name}: {ip} already configured")
        peer = IPv4Address(dest) if dest is not None else None
        if peer is not None and not self.is_pointopoint:
            raise InvalidArgument(f"{self.name}: destination address needs POINTOPOINT")
        bcast = IPv4Address(broadcast) if broadcast is not None else None
        if bcast is None and self.is_broadcast:
            bcast = IPv4Address(int(ip) | (~int(mask) & _ALL_ONES))
        ifa = IfAddr(ip, self, netmask=mask, broadaddr=bcast, dstaddr=peer)
        self._inet.append(ifa)
        return ifa

    def remove_inet(self, addr: IPv4Address | str) -> IfAddr:
        """Remove an IPv4 address; EADDRNOTAVAIL if it is not here."""
        ip = IPv4Address(addr)
        for ifa in self._inet:
            if ifa.addr == ip:
                self._inet.remove(ifa)
                return ifa
        raise error_for_errno(errno.EADDRNOTAVAIL, f"{self.name}: {ip} not configured")

    def purge_addrs(self) -> int:
        n = len(self._inet)
        self._inet.clear()
        return n

    def replace_lladdr(self, lladdr: bytes) -> None:
        """SIOCSIFLLADDR: a new MAC of the same length; a running driver is re-inited."""
        self.require_live()
        if len(lladdr) != len(self.lladdr):
            raise InvalidArgument(
                f"{self.name}: link address must be {len(self.lladdr)} bytes, not {len(lladdr)}"
            )
        self.ops.ioctl(self, IoctlCmd.SIOCSIFLLADDR, bytes(lladdr))
        self.lladdr = bytes(lladdr)
        self._set_link_ifa()
        if self.is_up_and_running:
            self.ops.init(self)
        self.notify(IfEvent.LLADDR)
