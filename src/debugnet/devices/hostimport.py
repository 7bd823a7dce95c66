"""Read the running Linux host's interfaces into an ``IfTable``.

Names and indexes from ``if_nameindex``; flags, MTU and MAC by ioctl; IPv4
addresses from an rtnetlink dump (ioctl SIOCGIFADDR as a fallback, which
sees only the primary address); link state and counters from sysfs.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from debugnet.errors import DebugnetError, NoDevice, NotSupported
from debugnet.ifnet import IfFlags, Ifnet, IfOps, IfStats, IfTable, IfType, LinkState

log = logging.getLogger(__name__)

SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
SIOCGIFMTU = 0x8921
SIOCGIFHWADDR = 0x8927
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
LINUX_IFF_MULTICAST = 0x1000
SYS_NET = Path("/sys/class/net")

_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_ADDRESS, _IFA_LOCAL, _IFA_BROADCAST = 1, 2, 4
_NLMSG = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True, slots=True)
class HostAddr:
    addr: IPv4Address
    prefixlen: int
    broadcast: IPv4Address | None = None
    peer: IPv4Address | None = None

    @property
    def netmask(self) -> IPv4Address:
        return IPv4Address((0xFFFFFFFF << (32 - self.prefixlen)) & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class HostInterface:
    name: str
    index: int
    mac: bytes
    mtu: int
    linux_flags: int
    arphrd: int
    link_state: LinkState
    addrs: tuple[HostAddr, ...] = ()
    stats: IfStats = field(default_factory=IfStats)

    @property
    def flags(self) -> IfFlags:
        return linux_to_if_flags(self.linux_flags)

    @property
    def if_type(self) -> IfType:
        if self.arphrd == ARPHRD_ETHER:
            return IfType.ETHER
        if self.arphrd == ARPHRD_LOOPBACK:
            return IfType.LOOP
        return IfType.OTHER


def linux_to_if_flags(linux: int) -> IfFlags:
    """Linux shares BSD's low ten flag bits; MULTICAST sits elsewhere."""
    flags = IfFlags(linux & 0x3FF)
    if linux & LINUX_IFF_MULTICAST:
        flags |= IfFlags.MULTICAST
    return flags


def _ifreq(sock: socket.socket, request: int, name: str) -> bytes:
    try:
        return fcntl.ioctl(sock.fileno(), request, struct.pack("16s24x", name.encode()))
    except OSError as exc:
        raise NoDevice(f"{name}: {exc.strerror}") from exc


def _sys(name: str, attr: str, default: str = "") -> str:
    try:
        return (SYS_NET / name / attr).read_text().strip()
    except OSError:
        return default


def _link_state(name: str) -> LinkState:
    oper = _sys(name, "operstate", "unknown")
    if oper == "up":
        return LinkState.UP
    if oper in ("down", "lowerlayerdown", "notpresent", "dormant"):
        return LinkState.DOWN
    return LinkState.UNKNOWN


_STAT_FILES = {
    "ipackets": "rx_packets",
    "ierrors": "rx_errors",
    "opackets": "tx_packets",
    "oerrors": "tx_errors",
    "collisions": "collisions",
    "ibytes": "rx_bytes",
    "obytes": "tx_bytes",
    "imcasts": "multicast",
    "iqdrops": "rx_dropped",
    "oqdrops": "tx_dropped",
}


def _stats(name: str) -> IfStats:
    stats = IfStats()
    for attr, fname in _STAT_FILES.items():
        value = _sys(name, f"statistics/{fname}", "0")
        setattr(stats, attr, int(value) if value.isdigit() else 0)
    return stats


def _inet_by_ioctl(sock: socket.socket, name: str) -> tuple[HostAddr, ...]:
    try:
        addr = IPv4Address(_ifreq(sock, SIOCGIFADDR, name)[20:24])
        mask = IPv4Address(_ifreq(sock, SIOCGIFNETMASK, name)[20:24])
    except NoDevice:
        return ()
    return (HostAddr(addr, bin(int(mask)).count("1")),)


def _parse_addr_message(msg: bytes, out: dict[int, list[HostAddr]]) -> None:
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(msg, _NLMSG.size)
    if family != socket.AF_INET:
        return
    attrs: dict[int, IPv4Address] = {}
    pos = _NLMSG.size + _IFADDRMSG.size
    while pos + _RTATTR.size <= len(msg):
        length, kind = _RTATTR.unpack_from(msg, pos)
        if length < _RTATTR.size:
            break
        if kind in (_IFA_ADDRESS, _IFA_LOCAL, _IFA_BROADCAST) and length == 8:
            attrs[kind] = IPv4Address(msg[pos + 4 : pos + 8])
        pos += (length + 3) & ~3
    local = attrs.get(_IFA_LOCAL, attrs.get(_IFA_ADDRESS))
    if local is None:
        return
    address = attrs.get(_IFA_ADDRESS)
    peer = address if address is not None and address != local else None
    out.setdefault(index, []).append(HostAddr(local, prefixlen, attrs.get(_IFA_BROADCAST), peer))


def netlink_ipv4_addrs() -> dict[int, list[HostAddr]]:
    """Every IPv4 address of the host by interface index (RTM_GETADDR dump)."""
    out: dict[int, list[HostAddr]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:
        nl.bind((0, 0))
        body = _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
        head = _NLMSG.pack(
            _NLMSG.size + len(body), _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
        )
        nl.send(head + body)
        while True:
            data = nl.recv(65536)
            pos = 0
            while pos + _NLMSG.size <= len(data):
                length, kind, _f, _seq, _pid = _NLMSG.unpack_from(data, pos)
                if length < _NLMSG.size:
                    return out
                msg = data[pos : pos + length]
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    raise OSError(f"rtnetlink error {struct.unpack_from('=i', msg, 16)[0]}")
                if kind == _RTM_NEWADDR:
                    _parse_addr_message(msg, out)
                pos += (length + 3) & ~3


def read_host_interface(
    name: str, index: int | None = None, addrs: dict[int, list[HostAddr]] | None = None
) -> HostInterface:
    """One host interface; ENXIO if it does not exist."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        linux_flags = struct.unpack_from("H", _ifreq(sock, SIOCGIFFLAGS, name), 16)[0]
        mtu = struct.unpack_from("i", _ifreq(sock, SIOCGIFMTU, name), 16)[0]
        hw = _ifreq(sock, SIOCGIFHWADDR, name)
        arphrd = struct.unpack_from("H", hw, 16)[0]
        mac = hw[18:24] if arphrd in (ARPHRD_ETHER, ARPHRD_LOOPBACK) else b""
        if index is None:
            index = socket.if_nametoindex(name)
        if addrs is None:
            try:
                addrs = netlink_ipv4_addrs()
            except OSError as exc:
                log.debug("rtnetlink unavailable (%s); using SIOCGIFADDR", exc)
                addrs = {index: list(_inet_by_ioctl(sock, name))}
        inet = tuple(addrs.get(index, ()))
    lower_up = _sys(name, "carrier", "")
    state = _link_state(name)
    if state == LinkState.UNKNOWN and lower_up == "1" and arphrd == ARPHRD_ETHER:
        state = LinkState.UP
    return HostInterface(
        name, index, bytes(mac), mtu, linux_flags, arphrd, state, inet, _stats(name)
    )


def list_host_interfaces() -> list[HostInterface]:
    """Every interface of the host's network namespace, in index order."""
    try:
        addrs: dict[int, list[HostAddr]] | None = netlink_ipv4_addrs()
    except OSError:
        addrs = None
    found = []
    for index, name in sorted(socket.if_nameindex()):
        try:
            found.append(read_host_interface(name, index, addrs))
        except NoDevice:
            log.debug("%s vanished while reading", name)
    return found


def _view_output(ifp: Ifnet, frame: bytes) -> None:
    raise NotSupported(f"{ifp.name}: imported view; attach a packet device to send")


HOST_VIEW_OPS = IfOps(output=_view_output)


def to_ifnet(host: HostInterface, ops: IfOps = HOST_VIEW_OPS, *, name: str | None = None) -> Ifnet:
    """An unattached ``Ifnet`` mirroring ``host`` (flags, MTU, MAC, counters),
    named ``name`` if given (checked as any name is)."""
    ifp = Ifnet(
        host.name if name is None else name,
        ops,
        if_type=host.if_type,
        lladdr=host.mac,
        mtu=host.mtu,
        max_mtu=max(host.mtu, 65535 if host.if_type == IfType.LOOP else host.mtu),
        flags=host.flags,
    )
    ifp.stats = host.stats
    return ifp


def import_host(table: IfTable | None = None) -> IfTable:
    """A table of the host's interfaces at their own indexes, with IPv4 addresses
    and link state applied (listeners have seen every change).

    Linux allows what our model does not (an index above 65535, a peer address
    without POINTOPOINT, one address with two prefixes): such an interface or
    address is left out with a warning rather than failing the whole import.
    """
    table = table if table is not None else IfTable()
    for host in list_host_interfaces():
        try:
            ifp = table.attach(to_ifnet(host), index=host.index)
        except DebugnetError as exc:
            log.warning("%s (index %d) not imported: %s", host.name, host.index, exc)
            continue
        for a in host.addrs:
            _import_addr(ifp, a)
        ifp.link_state_change(host.link_state)
    table.drain_link_states()
    return table


def _import_addr(ifp: Ifnet, a: HostAddr) -> None:
    try:
        ifp.add_inet(a.addr, a.netmask, broadcast=a.broadcast, dest=a.peer)
    except DebugnetError as exc:
        log.warning("%s: address %s/%d not imported: %s", ifp.name, a.addr, a.prefixlen, exc)
