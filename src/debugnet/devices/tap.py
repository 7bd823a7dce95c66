"""A TAP interface: the host gets a new Ethernet device, we hold the other end.

Frames we send appear as received by the host's ``<host_name>``; frames the
host sends through it are ours to poll. The descriptor is non-blocking.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from dataclasses import dataclass

from debugnet.errors import NoDevice, PermissionDenied
from debugnet.ifnet import (
    IfFlags,
    Ifnet,
    IfOps,
    IfTable,
    IfType,
    LinkState,
)

from .ring import accepts, polled_debugnet

log = logging.getLogger(__name__)

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
TUN_PATH = "/dev/net/tun"


@dataclass(eq=False)
class TapSoftc:
    host_name: str
    fd: int = -1
    diverted: bool = False

    def fileno(self) -> int:
        return self.fd


def open_tap(host_name: str) -> tuple[int, str]:
    """Create (or attach to) TAP device ``host_name``; the fd and the name the kernel gave."""
    try:
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError as exc:
        raise PermissionDenied(f"{TUN_PATH}: {exc.strerror}") from exc
    except FileNotFoundError as exc:
        raise NoDevice(f"{TUN_PATH}: no TUN/TAP support") from exc
    try:
        ifr = struct.pack("16sH22x", host_name.encode(), IFF_TAP | IFF_NO_PI)
        ifr = fcntl.ioctl(fd, TUNSETIFF, ifr)
    except OSError as exc:
        os.close(fd)
        raise PermissionDenied(f"TUNSETIFF {host_name}: {exc.strerror}") from exc
    return fd, ifr[:16].rstrip(b"\0").decode()


def _output(ifp: Ifnet, frame: bytes) -> None:
    fd = ifp.softc.fd
    if fd < 0:
        raise NoDevice(f"{ifp.name}: tap closed")
    os.write(fd, frame)


def _poll(ifp: Ifnet, count: int) -> int:
    """Up to ``count`` frames into ``ifp.input``; frames the station filter
    drops are read but not counted, as a NIC never hands them up."""
    fd = ifp.softc.fd
    n = 0
    while fd >= 0 and n < count:
        try:
            frame = os.read(fd, 65536)
        except BlockingIOError:
            break
        if accepts(ifp, frame):
            ifp.input(frame)
            n += 1
    return n


def _stop(ifp: Ifnet, disable: bool) -> None:
    sc: TapSoftc = ifp.softc
    if disable and sc.fd >= 0:
        os.close(sc.fd)
        sc.fd = -1


def _init(ifp: Ifnet) -> None:
    sc: TapSoftc = ifp.softc
    if sc.fd < 0:
        sc.fd, sc.host_name = open_tap(sc.host_name)


TAP_OPS = IfOps(
    output=_output,
    init=_init,
    stop=_stop,
    debugnet=polled_debugnet(_output, _poll, 256),
)


def attach_tap(
    table: IfTable, host_name: str, mac: bytes, *, name: str = "tap0", mtu: int = 1500
) -> Ifnet:
    """Create host TAP ``host_name`` and attach our end as ``name`` with ``mac``.

    Our end is up and running with link UP queued; the host side is for the
    host to configure (``ip link set <host_name> up``).
    """
    fd, actual = open_tap(host_name)
    try:
        ifp = Ifnet(
            name,
            TAP_OPS,
            if_type=IfType.ETHER,
            lladdr=mac,
            mtu=mtu,
            max_mtu=65521,
            flags=IfFlags.BROADCAST | IfFlags.SIMPLEX | IfFlags.MULTICAST,
            softc=TapSoftc(actual, fd),
        )
        table.attach(ifp)
    except BaseException:
        os.close(fd)  # the last close of a non-persistent TAP removes it from the host
        raise
    ifp.flags |= IfFlags.UP | IfFlags.RUNNING
    ifp.link_state_change(LinkState.UP)
    return ifp


def poll(ifp: Ifnet, count: int = 64) -> int:
    """Frames the host sent to us, up to ``count``, through the station filter."""
    return _poll(ifp, count)


def close(ifp: Ifnet) -> None:
    _stop(ifp, True)
