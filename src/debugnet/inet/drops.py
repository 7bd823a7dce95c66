"""Why the client's input path dropped a frame, and the counters it keeps.

Every drop has one reason (PROTOCOL.md section 4, seeds 000 debugnet_pkt_in and
001 netdump_handle_ip/netdump_handle_arp); the stack counts each one and logs
it at debug level, so a dump that stalls can be explained from the counters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class Drop(Enum):
    # Ethernet
    RUNT = "shorter than an Ethernet header"
    VLAN_TAGGED = "802.1Q tag in the frame"
    VLAN_STRIPPED = "VLAN tag reported by the driver"
    NOT_OUR_MAC = "destination MAC not ours (and not broadcast ARP)"
    ETHERTYPE = "neither ARP nor IPv4"
    # ARP
    ARP_SHORT = "ARP packet too short"
    ARP_HRD = "ARP hardware type not Ethernet"
    ARP_PRO = "ARP protocol type not IPv4"
    ARP_LENGTHS = "ARP hln/pln not 6/4"
    ARP_FROM_US = "ARP from our own MAC"
    ARP_ADDR_IN_USE = "ARP from another host using our IP address"
    ARP_FROM_BROADCAST = "ARP sender MAC is broadcast"
    ARP_UNWANTED_REPLY = "ARP reply not for the address being resolved"
    ARP_NOT_FOR_US = "ARP request for another address"
    ARP_OP = "ARP opcode neither request nor reply"
    # IPv4
    IP_NO_NEXT_HOP = "IP before the next hop's MAC is known"
    IP_SHORT = "shorter than an IPv4 header"
    IP_VERSION = "IP version not 4"
    IP_IHL = "IP header length below 20"
    IP_OPTIONS = "IP options"
    IP_CHECKSUM = "IP header checksum mismatch"
    IP_LENGTH_SHORT = "IP total length below the header"
    IP_LENGTH_LONG = "IP total length beyond the frame"
    IP_NOT_FROM_SERVER = "IP source is not the server"
    IP_NOT_TO_US = "IP destination is not our address"
    ICMP = "ICMP (the host stack's, never fatal)"
    IP_PROTO = "IP protocol not UDP"
    IP_FRAGMENT = "IP fragment"
    # UDP
    UDP_SHORT = "shorter than a UDP header"
    UDP_PORT = "UDP destination port not ours"
    UDP_LENGTH = "UDP length inconsistent with the packet"
    UDP_CHECKSUM = "UDP checksum mismatch"


@dataclass
class InetStats:
    """Counters of one stack; ``drops`` by reason."""

    drops: Counter[Drop] = field(default_factory=Counter)
    delivered: int = 0
    """UDP payloads handed to the transport."""
    trimmed: int = 0
    """Frames longer than their IP total length (Ethernet padding), trimmed."""
    fcs_stripped: int = 0
    trusted: int = 0
    """Frames whose checksums the driver vouched for, not verified again."""
    arp_requests_sent: int = 0
    arp_replies_sent: int = 0
    tx_dropped: int = 0
    """Frames the driver's queue refused (ENOBUFS/EAGAIN): lost, the transport resends."""

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())
