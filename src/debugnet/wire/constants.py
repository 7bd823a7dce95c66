"""Numbers fixed by the protocol, named once."""

from __future__ import annotations

from typing import Final

NETDUMP_PORT: Final = 20023
"""The netdump server's herald port."""
NETDUMP_ACKPORT: Final = 20024
"""The netdump client's port; the server always answers here."""
NETGDB_PORT: Final = 20025
NETGDB_ACKPORT: Final = 20026
NETGDB_AUX2: Final = 0x2515F095
"""Herald aux2 of netgdb protocol version 1."""

DEBUGNET_MAX_IN_FLIGHT: Final = 64
"""Acks this far past the current base are ignored as too far in the future."""
DEBUGNET_HEADER_SIZE: Final = 24
DEBUGNET_ACK_SIZE: Final = 4
IPV4_HEADER_SIZE: Final = 20
UDP_HEADER_SIZE: Final = 8
ETHER_HEADER_SIZE: Final = 14
ETHER_MIN_FRAME: Final = 60
"""Smallest Ethernet frame without FCS; shorter frames are padded."""
ETHER_FCS_SIZE: Final = 4
ETHERMTU: Final = 1500

HERALD_PATH_MAX: Final = 1024
"""netdumpd uses a herald path only if 0 < len <= this and NUL-terminated."""
KDH_SIZE: Final = 512
MAX_UDP_PAYLOAD: Final = 65507


def max_payload(mtu: int) -> int:
    """Bytes of message data per packet: MTU less IPv4, UDP and message headers."""
    return mtu - IPV4_HEADER_SIZE - UDP_HEADER_SIZE - DEBUGNET_HEADER_SIZE
