"""The raw path on a real Linux interface: packet socket, stack and shell in one object.

Opening checks what debugnet_connect checks, each as its own error: the
interface must exist (ENOENT), be Ethernet (ENODEV: no debugnet support) and
be up (ENXIO); opening its packet socket needs CAP_NET_RAW. While open, a
UDP socket is bound to 0.0.0.0 on the client port when the host allows it,
so that a host which does have an address does not answer the server's acks
with port-unreachables (it is never read: the stack gets the acks).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from types import TracebackType

from debugnet.devices import packet
from debugnet.devices.hostimport import read_host_interface
from debugnet.devices.route import route_get
from debugnet.errors import (
    NoDevice,
    NoEntry,
    NotSupportedByDevice,
    PermissionDenied,
)
from debugnet.ifnet import IfFlags, Ifnet, IfTable, IfType
from debugnet.inet.config import StackConfig
from debugnet.inet.infer import RawTarget, infer_target
from debugnet.inet.rawshell import RawShell
from debugnet.inet.stack import InetStack
from debugnet.inet.udpsocket import Driver
from debugnet.transport.config import TransportConfig
from debugnet.transport.options import DdbConfig
from debugnet.wire.constants import NETDUMP_ACKPORT

log = logging.getLogger(__name__)


def interface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def infer_from_host(ddb: DdbConfig) -> RawTarget:
    """``infer_target`` against this host's routing table."""
    if ddb.interface is not None and not interface_exists(ddb.interface):
        raise NoEntry(f"could not locate interface {ddb.interface}")
    return infer_target(
        ddb.server,
        client=ddb.client,
        gateway=ddb.gateway,
        interface=ddb.interface,
        route=route_get,
        name_of=socket.if_indextoname,
    )


def open_packet_interface(table: IfTable, name: str) -> Ifnet:
    """Attach ``name`` as a packet-socket interface after the connect-time checks."""
    if not interface_exists(name):
        raise NoEntry(f"could not locate interface {name}")
    host = read_host_interface(name, addrs={})
    if host.if_type != IfType.ETHER or len(host.mac) != 6:
        raise NotSupportedByDevice(f"interface '{name}' does not support debugnet (not Ethernet)")
    if not host.flags & IfFlags.UP:
        raise NoDevice(f"interface '{name}' link is down")
    try:
        return packet.attach_packet(table, name)
    except PermissionDenied:
        raise PermissionDenied(
            f"the raw path needs root (CAP_NET_RAW) to open a packet socket on {name}"
        ) from None


def _guard_port(port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as exc:
        sock.close()
        log.debug("UDP port %d not bound on the host (%s); it may answer unreachable", port, exc)
        return None
    return sock


class RawPath:
    """An open raw path to ``target``; ``run`` drives a client core as UdpShell.run does."""

    def __init__(
        self,
        target: RawTarget,
        config: TransportConfig | None = None,
        *,
        client_port: int = NETDUMP_ACKPORT,
    ) -> None:
        self.target = target
        self.table = IfTable()
        self.ifp = open_packet_interface(self.table, target.interface)
        try:
            stack_config = StackConfig.for_transport(
                config or TransportConfig(),
                lladdr=self.ifp.lladdr,
                client=target.client,
                server=target.server,
                gateway=target.gateway,
                mtu=self.ifp.mtu,
                client_port=client_port,
            )
            self.shell = RawShell(self.ifp, InetStack(stack_config))
            self.shell.open()
        except BaseException:
            packet.close(self.ifp)
            raise
        self._guard = _guard_port(client_port)

    @property
    def mtu(self) -> int:
        return self.ifp.mtu

    @property
    def stack(self) -> InetStack:
        return self.shell.stack

    def run(
        self,
        driver: Driver,
        *,
        progress: Callable[[], None] | None = None,
        progress_interval: float = 0.2,
    ) -> None:
        self.shell.run(driver, progress=progress, progress_interval=progress_interval)

    def close(self) -> None:
        self.shell.close()
        packet.close(self.ifp)
        if self._guard is not None:
            self._guard.close()
            self._guard = None

    def __enter__(self) -> RawPath:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
