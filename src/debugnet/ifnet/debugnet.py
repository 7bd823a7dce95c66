"""Debugnet driver hooks and the buffer pool they size (PROTOCOL.md §5).

A driver supports debugnet when its ops carry ``DebugnetMethods``. When such
an interface's link comes up or its MTU changes, the driver reports its
receive rings, clusters per ring and cluster size; the pool keeps a
high-water mark over every interface and grows only when a figure grows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from debugnet.errors import InvalidArgument, NoBuffers, NoDevice, NotSupportedByDevice
from debugnet.ifnet.linkstate import IfEvent, IfNotice, LinkState
from debugnet.ifnet.ops import TapDirection

if TYPE_CHECKING:
    from debugnet.ifnet.interface import Ifnet

log = logging.getLogger(__name__)

TX_HEADERS_PER_CLUSTER = 4
"""Headers per cluster beyond the rings: two per message, times two for room."""


class DebugnetEvent(IntEnum):
    START = 0
    END = 1


@dataclass(frozen=True, slots=True)
class DebugnetMethods:
    """``init`` → (rx rings, clusters per ring, cluster size); ``event`` START/END;
    ``transmit`` one frame now; ``poll`` up to N frames into ``ifp.input``,
    returning how many; optionally ``transmit_many``, a list of frames with as
    few driver calls as the hardware allows (a descriptor ring filled at once,
    a socket's sendmmsg), returning how many were sent before a full queue."""

    init: Callable[[Ifnet], tuple[int, int, int]]
    event: Callable[[Ifnet, DebugnetEvent], None]
    transmit: Callable[[Ifnet, bytes], None]
    poll: Callable[[Ifnet, int], int]
    transmit_many: Callable[[Ifnet, list[bytes]], int] | None = None


@dataclass(frozen=True, slots=True)
class PoolSize:
    nmbuf: int = 0
    ncl: int = 0
    clsize: int = 0


def supports_debugnet(ifp: Ifnet) -> bool:
    return ifp.ops.debugnet is not None


def _methods(ifp: Ifnet) -> DebugnetMethods:
    if ifp.deactivated:
        raise NoDevice(f"{ifp.name}: interface detached")
    methods = ifp.ops.debugnet
    if methods is None:
        raise NotSupportedByDevice(f"{ifp.name}: driver does not support debugnet")
    return methods


def debugnet_event(ifp: Ifnet, event: DebugnetEvent) -> None:
    _methods(ifp).event(ifp, event)


def debugnet_transmit(ifp: Ifnet, frame: bytes) -> None:
    """Send one frame straight through the driver, bypassing the send queue."""
    methods = _methods(ifp)
    for tap in ifp.taps:
        tap(TapDirection.OUT, frame)
    methods.transmit(ifp, frame)
    ifp.stats.opackets += 1
    ifp.stats.obytes += len(frame)


def debugnet_poll(ifp: Ifnet, count: int) -> int:
    """Let the driver feed up to ``count`` received frames to ``ifp.input``."""
    return _methods(ifp).poll(ifp, count)


class PoolBuffer:
    """One cluster taken from the pool; ``data`` is the frame's storage."""

    __slots__ = ("_generation", "data", "length")

    def __init__(self, data: bytearray, generation: int) -> None:
        self.data = data
        self.length = 0
        self._generation = generation

    def view(self) -> memoryview:
        return memoryview(self.data)[: self.length]


class BufferPool:
    """A bounded pool of packet headers and fixed-size clusters.

    Taking a buffer uses one header and one cluster; when either runs out the
    caller gets ENOBUFS rather than an allocation, as a kernel in a panic
    would. Re-sizing replaces the pool; buffers of the old one returned later
    are forgotten, not mixed in.
    """

    def __init__(self) -> None:
        self.size = PoolSize()
        self._generation = 0
        self._clusters: list[bytearray] = []
        self._headers = 0

    def reinit(self, size: PoolSize) -> None:
        self.size = size
        self._generation += 1
        self._clusters = [bytearray(size.clsize) for _ in range(size.ncl)]
        self._headers = size.nmbuf

    @property
    def free_clusters(self) -> int:
        return len(self._clusters)

    @property
    def free_headers(self) -> int:
        return self._headers

    def take(self) -> PoolBuffer:
        if not self._clusters or self._headers == 0:
            raise NoBuffers("debugnet buffer pool exhausted")
        self._headers -= 1
        return PoolBuffer(self._clusters.pop(), self._generation)

    def fill(self, frame: bytes) -> PoolBuffer:
        """Take a buffer holding a copy of ``frame`` (EINVAL if it cannot fit)."""
        if len(frame) > self.size.clsize:
            raise InvalidArgument(f"{len(frame)}-byte frame exceeds cluster size")
        buf = self.take()
        buf.data[: len(frame)] = frame
        buf.length = len(frame)
        return buf

    def give_back(self, buf: PoolBuffer) -> None:
        if buf._generation != self._generation:
            return
        buf._generation = -1
        buf.length = 0
        self._clusters.append(buf.data)
        self._headers += 1


class DebugnetPool:
    """The sizing policy (debugnet_any_ifnet_update) around one ``BufferPool``."""

    def __init__(self) -> None:
        self.hwm = PoolSize()
        self.pool = BufferPool()
        self.resizes = 0
        self.ignored = 0

    def on_notice(self, notice: IfNotice) -> None:
        """Listener: size on link UP and on MTU change of a debugnet interface."""
        link_up = notice.event == IfEvent.LINK_STATE and notice.link_state == LinkState.UP
        if link_up or notice.event == IfEvent.MTU:
            self.update(notice.ifp)

    def update(self, ifp: Ifnet) -> bool:
        """Ask the driver for its figures; True when the pool was re-sized."""
        methods = ifp.ops.debugnet
        if methods is None:
            return False
        nrxr, ncl, clsize = methods.init(ifp)
        nmbuf = ncl * (TX_HEADERS_PER_CLUSTER + nrxr)
        ncl *= nrxr
        if nrxr <= 0 or nmbuf <= 0 or ncl <= 0 or clsize <= 0:
            self.ignored += 1
            log.warning(
                "%s: bad debugnet init result (%d rings, %d clusters, size %d), ignoring",
                ifp.name,
                nrxr,
                ncl,
                clsize,
            )
            return False
        return self.maybe_reinit(PoolSize(nmbuf, ncl, clsize))

    def maybe_reinit(self, want: PoolSize) -> bool:
        old = self.hwm
        new = PoolSize(
            max(old.nmbuf, want.nmbuf), max(old.ncl, want.ncl), max(old.clsize, want.clsize)
        )
        if new == old:
            return False
        self.hwm = new
        self.pool.reinit(new)
        self.resizes += 1
        log.info("debugnet pool: %d headers, %d clusters of %d", new.nmbuf, new.ncl, new.clsize)
        return True
