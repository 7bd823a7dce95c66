"""The host's route to one address, from an rtnetlink RTM_GETROUTE query.

What ``ip route get`` prints: output interface, gateway (absent when the
destination is on-link) and preferred source address. Standard library
only: a netlink socket and ``struct``.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from debugnet.errors import DebugnetError, NoEntry

_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 0x1
_RTA_DST, _RTA_OIF, _RTA_GATEWAY, _RTA_PREFSRC = 1, 4, 5, 7
_NLMSG = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_ERRNO = struct.Struct("=i")
_NO_ROUTE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENOENT, errno.ESRCH})


@dataclass(frozen=True, slots=True)
class HostRoute:
    dst: IPv4Address
    oif: int
    """Output interface index."""
    gateway: IPv4Address | None
    """None: the destination is on-link."""
    prefsrc: IPv4Address | None


def _request(dst: IPv4Address, seq: int) -> bytes:
    body = _RTMSG.pack(socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, 0)
    attr = _RTATTR.pack(_RTATTR.size + 4, _RTA_DST) + dst.packed
    size = _NLMSG.size + len(body) + len(attr)
    return _NLMSG.pack(size, _RTM_GETROUTE, _NLM_F_REQUEST, seq, 0) + body + attr


def parse_route(dst: IPv4Address, msg: bytes) -> HostRoute:
    """Decode one RTM_NEWROUTE message (header included)."""
    pos = _NLMSG.size + _RTMSG.size
    oif = 0
    addrs: dict[int, IPv4Address] = {}
    while pos + _RTATTR.size <= len(msg):
        length, kind = _RTATTR.unpack_from(msg, pos)
        if length < _RTATTR.size:
            break
        value = msg[pos + _RTATTR.size : pos + length]
        if kind == _RTA_OIF and len(value) == 4:
            oif = struct.unpack("=I", value)[0]
        elif kind in (_RTA_GATEWAY, _RTA_PREFSRC) and len(value) == 4:
            addrs[kind] = IPv4Address(value)
        pos += (length + 3) & ~3
    return HostRoute(dst, oif, addrs.get(_RTA_GATEWAY), addrs.get(_RTA_PREFSRC))


def route_get(dst: IPv4Address) -> HostRoute | None:
    """The route the host would use to reach ``dst``; None when it has none."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:
        nl.bind((0, 0))
        nl.settimeout(5.0)
        nl.send(_request(dst, 1))
        data = nl.recv(65536)
    pos = 0
    while pos + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, pos)
        if length < _NLMSG.size:
            break
        msg = data[pos : pos + length]
        if kind == _NLMSG_ERROR:
            code = -_ERRNO.unpack_from(msg, _NLMSG.size)[0]
            if code in _NO_ROUTE:
                return None
            raise DebugnetError(
                f"rtnetlink route query for {dst}: {errno.errorcode.get(code, code)}"
            )
        if kind == _RTM_NEWROUTE:
            return parse_route(dst, msg)
        pos += (length + 3) & ~3
    raise NoEntry(f"rtnetlink gave no answer for a route to {dst}")
