"""A receive ring shared by the drivers: frames wait here while debugnet polls.

Outside debugnet a frame goes straight to ``ifp.input`` (the interrupt path);
between the START and END events it is held until ``poll`` asks for it, as a
kernel in the debugger only sees what it polls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from debugnet.ifnet import DebugnetEvent, DebugnetMethods, IfFlags, Ifnet

_PROMISC = int(IfFlags.PROMISC)
_ALLMULTI = int(IfFlags.ALLMULTI)
_BROADCAST = b"\xff" * 6


class RxRing:
    __slots__ = ("diverted", "frames", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.frames: deque[bytes] = deque()
        self.diverted = False

    def receive(self, ifp: Ifnet, frame: bytes) -> None:
        if not self.diverted:
            ifp.input(frame)
            return
        if len(self.frames) >= self.size:
            ifp.stats.iqdrops += 1
            return
        self.frames.append(frame)

    def event(self, ifp: Ifnet, event: DebugnetEvent) -> None:
        self.diverted = event == DebugnetEvent.START

    def poll(self, ifp: Ifnet, count: int) -> int:
        frames = self.frames
        n = 0
        while frames and n < count:
            ifp.input(frames.popleft())
            n += 1
        return n


def cluster_size(mtu: int, hdrlen: int = 14) -> int:
    """The mbuf cluster a driver would pick for a frame of ``mtu``: 2, 4 or 9 KiB, or more."""
    need = mtu + hdrlen
    for size in (2048, 4096, 9216):
        if need <= size:
            return size
    return need


def accepts(ifp: Ifnet, frame: bytes) -> bool:
    """The station filter of an Ethernet NIC: ours, broadcast, joined groups, or promiscuous."""
    if len(frame) < 14:
        return False
    flags = ifp.flag_bits
    if flags & _PROMISC:
        return True
    dst = frame[:6]
    if dst == ifp.lladdr:
        return True
    if dst[0] & 1:
        return dst == _BROADCAST or bool(flags & _ALLMULTI) or dst in ifp.multi
    return False


def polled_debugnet(
    transmit: Callable[[Ifnet, bytes], None],
    poll: Callable[[Ifnet, int], int],
    clusters: int,
    transmit_many: Callable[[Ifnet, list[bytes]], int] | None = None,
) -> DebugnetMethods:
    """Debugnet methods of a driver that is always polled (sockets, TAP).

    Such a driver has no interrupt path to divert: START/END only record the
    mode in ``ifp.softc.diverted``; it reports one ring of ``clusters``.
    """

    def init(ifp: Ifnet) -> tuple[int, int, int]:
        return 1, clusters, cluster_size(ifp.mtu)

    def event(ifp: Ifnet, ev: DebugnetEvent) -> None:
        ifp.softc.diverted = ev == DebugnetEvent.START

    return DebugnetMethods(
        init=init, event=event, transmit=transmit, poll=poll, transmit_many=transmit_many
    )
