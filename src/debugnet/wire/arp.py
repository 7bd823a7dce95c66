"""ARP for Ethernet and IPv4, the only kind debugnet speaks.

The seed copies ``ar_hln`` bytes into a 6-byte buffer on the word of the
sender; here a packet whose lengths are not exactly 6 and 4 is refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from ipaddress import IPv4Address
from typing import ClassVar, Final, Self

from debugnet.errors import WireError
from debugnet.wire.ethernet import MAC_SIZE, ZERO_MAC, EtherType, check_mac
from debugnet.wire.ipv4 import check_addr
from debugnet.wire.octets import octets

PACKET: Final = struct.Struct("!HHBBH6sI6sI")
FIXED: Final = struct.Struct("!HHBBH")
HRD_ETHERNET: Final = 1
IPV4_SIZE: Final = 4


class ArpOp(IntEnum):
    REQUEST = 1
    REPLY = 2


class ArpReject(StrEnum):
    """Why an ARP packet was refused; the input path counts drops by member."""

    SHORT = "shorter than an Ethernet/IPv4 ARP packet"
    HRD = "hardware type is not Ethernet"
    PRO = "protocol type is not IPv4"
    HLN = "hardware address length is not 6"
    PLN = "protocol address length is not 4"


_OPS: Final = {int(op): op for op in ArpOp}


@dataclass(frozen=True, slots=True)
class ArpPacket:
    SIZE: ClassVar[int] = PACKET.size

    op: int
    sha: bytes
    spa: IPv4Address
    tha: bytes
    tpa: IPv4Address

    def __post_init__(self) -> None:
        check_mac("arp.sha", self.sha)
        check_mac("arp.tha", self.tha)
        check_addr("arp.spa", self.spa)
        check_addr("arp.tpa", self.tpa)

    @classmethod
    def request(cls, sha: bytes, spa: IPv4Address, tpa: IPv4Address) -> Self:
        """Who has ``tpa``? (the target hardware address is left zero)."""
        return cls(ArpOp.REQUEST, sha, spa, ZERO_MAC, tpa)

    @classmethod
    def reply(cls, sha: bytes, spa: IPv4Address, tha: bytes, tpa: IPv4Address) -> Self:
        """``spa`` is at ``sha``, told to the asker at ``tha``/``tpa``."""
        return cls(ArpOp.REPLY, sha, spa, tha, tpa)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Decode the first 28 bytes; Ethernet padding after them is ignored."""
        data = octets(data)
        size = len(data)
        if size < FIXED.size:
            raise WireError("arp.length", size, ArpReject.SHORT)
        hrd, pro, hln, pln, _ = FIXED.unpack_from(data)
        if hrd != HRD_ETHERNET:
            raise WireError("arp.hrd", hrd, ArpReject.HRD)
        if pro != EtherType.IPV4:
            raise WireError("arp.pro", pro, ArpReject.PRO)
        if hln != MAC_SIZE:
            raise WireError("arp.hln", hln, ArpReject.HLN)
        if pln != IPV4_SIZE:
            raise WireError("arp.pln", pln, ArpReject.PLN)
        if size < PACKET.size:
            raise WireError("arp.length", size, ArpReject.SHORT)
        _, _, _, _, op, sha, spa, tha, tpa = PACKET.unpack_from(data)
        return cls(_OPS.get(op, op), sha, IPv4Address(spa), tha, IPv4Address(tpa))

    def emit(self) -> bytes:
        try:
            return PACKET.pack(
                HRD_ETHERNET,
                EtherType.IPV4,
                MAC_SIZE,
                IPV4_SIZE,
                self.op,
                self.sha,
                int(self.spa),
                self.tha,
                int(self.tpa),
            )
        except struct.error as exc:
            raise WireError("arp.op", self.op, f"out of range: {exc}") from None
