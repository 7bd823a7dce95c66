"""The interface table: what if.c keeps in globals, held by one object.

Index allocation follows if.c: a rolling counter that starts where the last
allocation ended, skips indexes in use and wraps back to 1; a generation
number, never reused, tells a new interface from an old one at the same
index. Exhaustion is an error (ENOSPC), not a panic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from debugnet.errors import Exists, InvalidArgument, NoDevice, NoSpace
from debugnet.ifnet import addr as _addr
from debugnet.ifnet.addr import AddrFamily, IfAddr, Sockaddr
from debugnet.ifnet.clone import ClonerRegistry
from debugnet.ifnet.debugnet import DebugnetPool
from debugnet.ifnet.defs import IfFlags
from debugnet.ifnet.interface import Ifnet
from debugnet.ifnet.ioctl import if_down
from debugnet.ifnet.linkstate import IfEvent, IfNotice, LinkState, Listeners, apply_link_state

log = logging.getLogger(__name__)

IF_INDEX_MAX = 0xFFFF
SLOWTIMO_INTERVAL = 1.0
"""Seconds between watchdog ticks (IFNET_SLOWHZ = 1)."""


@dataclass(frozen=True, slots=True)
class IfRef:
    """A weak handle on an interface: its index and the generation it had."""

    index: int
    generation: int


class IfTable:
    """Interfaces by index and name, cloners, listeners, the debugnet pool, timers."""

    def __init__(self, *, now: float = 0.0) -> None:
        self._byindex: dict[int, Ifnet] = {}
        self._byname: dict[str, Ifnet] = {}
        self._list: list[Ifnet] = []
        self._next_index = 1
        self._next_gen = 0
        self.listeners = Listeners()
        self.cloners: ClonerRegistry[IfTable] = ClonerRegistry(self)
        self.debugnet = DebugnetPool()
        self.listeners.add(self.debugnet.on_notice)
        self._slow_next = now + SLOWTIMO_INTERVAL

    # -- attach and detach ---------------------------------------------------

    def _alloc_index(self) -> int:
        if len(self._byindex) >= IF_INDEX_MAX:
            raise NoSpace(f"too many interfaces (all {IF_INDEX_MAX} indexes in use)")
        index = self._next_index
        while index in self._byindex:
            index = index + 1 if index < IF_INDEX_MAX else 1
        self._next_index = index
        return index

    def attach(self, ifp: Ifnet, *, index: int | None = None) -> Ifnet:
        """Give ``ifp`` an index and generation and make it visible.

        EEXIST for a name in use or a requested index taken; EINVAL for an
        interface already attached or detached, or an index out of range.
        """
        if ifp.deactivated or ifp.index_gen >= 0:
            raise InvalidArgument(f"{ifp.name}: already attached or detached")
        if ifp.name in self._byname:
            raise Exists(f"{ifp.name}: name in use")
        if index is None:
            index = self._alloc_index()
        elif not 1 <= index <= IF_INDEX_MAX:
            raise InvalidArgument(f"interface index {index} out of range")
        elif index in self._byindex:
            raise Exists(f"interface index {index} in use")
        ifp.attached(index, self._next_gen, self.listeners.emit)
        self._next_gen += 1
        self._byindex[index] = ifp
        self._byname[ifp.name] = ifp
        self._list.append(ifp)
        self.listeners.emit(IfNotice(IfEvent.ATTACH, ifp))
        return ifp

    def detach(self, ifp: Ifnet, *, now: float = 0.0) -> None:
        """Deactivate, unlist, bring down, purge addresses and queues, tell listeners.

        References still held keep a dead interface whose operations fail with
        ENXIO; its index is free for the next attach.
        """
        if self._byindex.get(ifp.index) is not ifp:
            raise NoDevice(f"{ifp.name}: not attached")
        ops = ifp.ops
        ifp.deactivate()
        del self._byindex[ifp.index]
        del self._byname[ifp.name]
        self._list.remove(ifp)
        if ifp.refcnt:
            log.debug("%s: detached with %d references held", ifp.name, ifp.refcnt)
        if ifp.flags & IfFlags.RUNNING:
            ops.stop(ifp, True)
        ifp.snd.purge(count_drops=True)
        ifp.rcv.purge(count_drops=True)
        if_down(ifp, now)
        ifp.flags &= ~IfFlags.RUNNING
        ifp.purge_addrs()
        ifp.detached()

    # -- lookups and references -----------------------------------------------

    def __iter__(self) -> Iterator[Ifnet]:
        """Interfaces in attach order."""
        return iter(tuple(self._list))

    def __len__(self) -> int:
        return len(self._list)

    def byindex(self, index: int) -> Ifnet | None:
        return self._byindex.get(index)

    def unit(self, name: str) -> Ifnet | None:
        """ifunit: by name; a name of only ASCII digits is an index."""
        if name.isascii() and name.isdigit():
            return self._byindex.get(int(name))
        return self._byname.get(name)

    def byname(self, name: str) -> Ifnet | None:
        """By name only, even for an all-digit name (Linux allows ``1``)."""
        return self._byname.get(name)

    def get(self, name: str) -> Ifnet | None:
        """if_get: like ``unit`` but takes a reference the caller must ``put``."""
        ifp = self.unit(name)
        if ifp is not None:
            ifp.refcnt += 1
        return ifp

    def get_byindex(self, index: int) -> Ifnet | None:
        ifp = self._byindex.get(index)
        if ifp is not None:
            ifp.refcnt += 1
        return ifp

    def put(self, ifp: Ifnet | None) -> None:
        if ifp is None:
            return
        if ifp.refcnt <= 0:
            raise InvalidArgument(f"{ifp.name}: reference count underflow")
        ifp.refcnt -= 1

    def ref(self, ifp: Ifnet) -> IfRef:
        return IfRef(ifp.index, ifp.index_gen)

    def resolve(self, ref: IfRef) -> Ifnet | None:
        """The interface ``ref`` was taken from, or None if it has gone (even if
        its index now belongs to another)."""
        ifp = self._byindex.get(ref.index)
        if ifp is None or ifp.index_gen != ref.generation:
            return None
        return ifp

    # -- addresses ---------------------------------------------------------------

    def ifa_ifwithaddr(self, addr: Sockaddr) -> IfAddr | None:
        return _addr.ifa_ifwithaddr(self._list, addr)

    def ifa_ifwithdstaddr(self, addr: Sockaddr) -> IfAddr | None:
        return _addr.ifa_ifwithdstaddr(self._list, addr)

    def ifa_ifwithnet(self, addr: Sockaddr) -> IfAddr | None:
        return _addr.ifa_ifwithnet(self._list, addr)

    def ifa_ifwithladdr(self, addr: Sockaddr) -> IfAddr | None:
        return _addr.ifa_ifwithladdr(self._list, addr)

    def ifa_ifwithaf(self, family: AddrFamily) -> IfAddr | None:
        return _addr.ifa_ifwithaf(self._list, family)

    # -- link state ----------------------------------------------------------------

    def link_state_step(self, ifp: Ifnet) -> LinkState | None:
        """Deliver one queued link change of ``ifp``; the state popped, or None."""
        state = ifp.link_queue.pop()
        if state is not None:
            apply_link_state(ifp, state, self.listeners.emit)
        return state

    def drain_link_states(self) -> int:
        """Deliver every queued change of every interface; how many were popped."""
        n = 0
        for ifp in self:
            while self.link_state_step(ifp) is not None:
                n += 1
        return n

    # -- the slow timer ---------------------------------------------------------

    def slowtimo(self) -> None:
        """One tick: count down each interface's timer, run its watchdog at zero."""
        for ifp in self:
            if ifp.timer > 0:
                ifp.timer -= 1
                if ifp.timer == 0:
                    ifp.ops.watchdog(ifp)

    def next_deadline(self) -> float:
        return self._slow_next

    def handle_timer(self, now: float) -> int:
        """Run every tick due by ``now``; how many ran."""
        ticks = 0
        while self._slow_next <= now:
            self.slowtimo()
            self._slow_next += SLOWTIMO_INTERVAL
            ticks += 1
        return ticks
