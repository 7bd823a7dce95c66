"""Driver operations: a table of callables, not a class to subclass.

An interface calls its driver only through ``ifp.ops``. Detaching swaps in
``NULL_OPS``, so code still holding the interface gets ENXIO (or a silent
drop where if.c drops) instead of reaching a driver that is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from debugnet.errors import DebugnetError, NoDevice, NotTty

if TYPE_CHECKING:
    from debugnet.ifnet.debugnet import DebugnetMethods
    from debugnet.ifnet.interface import Ifnet

log = logging.getLogger(__name__)


class IoctlCmd(IntEnum):
    """The requests a driver's ioctl may be asked to accept or refuse."""

    SIOCSIFFLAGS = 1
    SIOCSIFMTU = 2
    SIOCADDMULTI = 3
    SIOCDELMULTI = 4
    SIOCSIFCAP = 5
    SIOCSIFLLADDR = 6
    SIOCSIFMETRIC = 7
    SIOCGIFFLAGS = 8
    SIOCGIFMTU = 9
    SIOCGIFMETRIC = 10
    SIOCGIFDATA = 11
    SIOCZIFDATA = 12
    SIOCGIFINDEX = 13
    SIOCGIFCAP = 14
    SIOCINITIFADDR = 15
    DRIVER_PRIVATE = 100
    """First number left to drivers for their own requests."""


_COMMON = frozenset(c.value for c in IoctlCmd if c < IoctlCmd.DRIVER_PRIVATE)


class TapDirection(IntEnum):
    IN = 1
    OUT = 2


Tap = Callable[[TapDirection, bytes], None]
"""The BPF hook: sees every frame in and out of an interface."""


def accept_ioctl(ifp: Ifnet, cmd: int, arg: object) -> None:
    """A driver with nothing to say lets the common code do the common requests.

    Anything else is unknown: ENOTTY, as if.c answers.
    """
    if cmd not in _COMMON:
        raise NotTty(f"{ifp.name}: unknown interface request {cmd}")


def ignore(ifp: Ifnet) -> None:
    """Nothing to do."""


def ignore_stop(ifp: Ifnet, disable: bool) -> None:
    """Nothing to stop."""


def _no_output(ifp: Ifnet, frame: bytes) -> None:
    raise NoDevice(f"{ifp.name}: driver has no output")


def default_start(ifp: Ifnet) -> None:
    """Hand every queued frame to the driver's ``output``, tapping and counting.

    A frame the driver fails to send is an output error, not an exception for
    the sender: it was already accepted onto the queue.
    """
    snd = ifp.snd
    output = ifp.ops.output
    stats = ifp.stats
    taps = ifp.taps
    while (frame := snd.dequeue()) is not None:
        for tap in taps:
            tap(TapDirection.OUT, frame)
        try:
            output(ifp, frame)
        except (DebugnetError, OSError) as exc:
            stats.oerrors += 1
            log.debug("%s: output failed: %s", ifp.name, exc)
            continue
        stats.opackets += 1
        stats.obytes += len(frame)
        if frame and frame[0] & 1:
            stats.omcasts += 1


@dataclass(frozen=True, slots=True)
class IfOps:
    """What a driver provides. Only ``output`` is required.

    ``output`` puts one frame on the medium; ``start`` drains the send queue
    (the default calls ``output`` per frame); ``ioctl`` accepts a request or
    raises its errno; ``init``/``stop`` bring the hardware up and down;
    ``watchdog`` runs when the interface's timer expires; ``debugnet`` holds
    the optional debugnet methods.

    A driver whose medium already queues (a socket) may also set
    ``ifp.tx_direct`` while running: ``transmit`` then hands frames straight
    to it instead of queueing and starting (a driver's own if_transmit).
    """

    output: Callable[[Ifnet, bytes], None] = _no_output
    start: Callable[[Ifnet], None] = default_start
    ioctl: Callable[[Ifnet, int, object], None] = accept_ioctl
    init: Callable[[Ifnet], None] = ignore
    stop: Callable[[Ifnet, bool], None] = ignore_stop
    watchdog: Callable[[Ifnet], None] = ignore
    debugnet: DebugnetMethods | None = None


def _null_output(ifp: Ifnet, frame: bytes) -> None:
    raise NoDevice(f"{ifp.name}: interface detached")


def _null_ioctl(ifp: Ifnet, cmd: int, arg: object) -> None:
    raise NoDevice(f"{ifp.name}: interface detached")


def _null_init(ifp: Ifnet) -> None:
    raise NoDevice(f"{ifp.name}: interface detached")


def _null_start(ifp: Ifnet) -> None:
    ifp.snd.purge(count_drops=True)


NULL_OPS = IfOps(
    output=_null_output,
    start=_null_start,
    ioctl=_null_ioctl,
    init=_null_init,
    stop=ignore_stop,
    watchdog=ignore,
    debugnet=None,
)
"""What a detached interface runs: ENXIO for calls that return an error, drops otherwise."""
