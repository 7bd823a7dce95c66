"""Putting one frame on a debugnet interface (netdump_ether_output).

The interface must be up and running and not in monitor mode (ENETDOWN);
a frame longer than the MTU plus the link header is refused (ENOBUFS). The
frame goes straight to the driver's debugnet transmit, bypassing the send
queue, as a kernel in a panic does.
"""

from __future__ import annotations

import errno
import logging

from debugnet.errors import NetworkDown, NoBuffers, error_for_errno
from debugnet.ifnet import IfFlags, Ifnet, debugnet_transmit

log = logging.getLogger(__name__)

_UP_RUNNING = int(IfFlags.UP | IfFlags.RUNNING)
_MONITOR = int(IfFlags.MONITOR)
_QUEUE_FULL = frozenset({errno.EAGAIN, errno.ENOBUFS})


def ether_output(ifp: Ifnet, frame: bytes) -> bool:
    """Transmit ``frame``; False when the driver's queue was full (the frame is lost).

    A full socket buffer is a drop the transport recovers from by resending,
    not an error that ends the dump.
    """
    flags = ifp.flag_bits
    if flags & _UP_RUNNING != _UP_RUNNING or flags & _MONITOR:
        raise NetworkDown(f"{ifp.name}: interface is not up and running, or in monitor mode")
    if len(frame) > ifp.mtu + ifp.hdrlen:
        raise NoBuffers(f"{ifp.name}: {len(frame)}-byte frame exceeds mtu {ifp.mtu}")
    methods = ifp.ops.debugnet
    try:
        if methods is None or ifp.taps:
            debugnet_transmit(ifp, frame)  # ENODEV/ENXIO, and the taps see the frame
        else:
            methods.transmit(ifp, frame)
            stats = ifp.stats
            stats.opackets += 1
            stats.obytes += len(frame)
    except OSError as exc:
        if exc.errno in _QUEUE_FULL:
            ifp.stats.oqdrops += 1
            return False
        ifp.stats.oerrors += 1
        raise error_for_errno(exc.errno or 0, f"{ifp.name}: {exc.strerror}") from None
    return True


def ether_output_many(ifp: Ifnet, frames: list[bytes]) -> int:
    """Transmit ``frames`` in order, batched where the driver can; how many were lost.

    The same checks and errors as ``ether_output`` frame by frame; a driver
    with ``transmit_many`` (sendmmsg on a packet socket) gets the whole list
    in one call, and the frames after a full queue are the lost ones.
    """
    methods = ifp.ops.debugnet
    many = None if methods is None or ifp.taps else methods.transmit_many
    if many is None or len(frames) < 2:
        return sum(not ether_output(ifp, frame) for frame in frames)
    flags = ifp.flag_bits
    if flags & _UP_RUNNING != _UP_RUNNING or flags & _MONITOR:
        raise NetworkDown(f"{ifp.name}: interface is not up and running, or in monitor mode")
    limit = ifp.mtu + ifp.hdrlen
    longest = max(len(frame) for frame in frames)
    if longest > limit:
        raise NoBuffers(f"{ifp.name}: {longest}-byte frame exceeds mtu {ifp.mtu}")
    try:
        sent = many(ifp, frames)
    except OSError as exc:
        ifp.stats.oerrors += 1
        raise error_for_errno(exc.errno or 0, f"{ifp.name}: {exc.strerror}") from None
    stats = ifp.stats
    stats.opackets += sent
    stats.obytes += sum(len(frames[i]) for i in range(sent))
    lost = len(frames) - sent
    stats.oqdrops += lost
    return lost
