"""Addresses and tunables of one raw-Ethernet stack, in one value."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from debugnet.errors import InvalidArgument
from debugnet.transport.config import TransportConfig
from debugnet.wire.constants import NETDUMP_ACKPORT
from debugnet.wire.ethernet import BROADCAST_MAC, MAC_SIZE


@dataclass(frozen=True, slots=True)
class StackConfig:
    lladdr: bytes
    """Our MAC (the interface's)."""
    client: IPv4Address
    server: IPv4Address
    gateway: IPv4Address | None = None
    """None: the server is on-link."""
    client_port: int = NETDUMP_ACKPORT
    mtu: int = 1500
    arp_nretries: int = 3
    npolls: int = 2000
    poll_interval: float = 0.0005

    def __post_init__(self) -> None:
        if len(self.lladdr) != MAC_SIZE or self.lladdr == BROADCAST_MAC or self.lladdr[0] & 1:
            raise InvalidArgument(f"interface MAC {self.lladdr.hex(':')} is not a unicast MAC")
        if self.client.is_unspecified or self.server.is_unspecified:
            raise InvalidArgument("client and server addresses are required")
        if self.arp_nretries < 1:
            raise InvalidArgument("arp_nretries must be at least 1")

    @classmethod
    def for_transport(
        cls,
        transport: TransportConfig,
        *,
        lladdr: bytes,
        client: IPv4Address,
        server: IPv4Address,
        gateway: IPv4Address | None,
        mtu: int,
        client_port: int = NETDUMP_ACKPORT,
    ) -> StackConfig:
        """The ARP tunables are the transport's (net.debugnet.arp_nretries, npolls)."""
        return cls(
            lladdr,
            client,
            server,
            gateway,
            client_port,
            mtu,
            max(transport.arp_nretries, 1),
            transport.npolls,
            transport.poll_interval,
        )

    @property
    def arp_wait(self) -> float:
        """How long one ARP request is given: ``npolls`` polls ``poll_interval`` apart."""
        return max(self.npolls, 1) * self.poll_interval
