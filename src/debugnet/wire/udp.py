"""UDP over IPv4 with the pseudo-header checksum.

The checksum needs the IPv4 addresses, so ``parse`` and ``emit`` take them.
The pseudo-header is summed from integers and combined with the segment's
sum, so the payload is never copied into a pseudo-header buffer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address
from typing import ClassVar, Final, Self

from debugnet.errors import WireError
from debugnet.wire.checksum import residue
from debugnet.wire.constants import UDP_HEADER_SIZE
from debugnet.wire.ipv4 import IpProto
from debugnet.wire.octets import octets

HEADER: Final = struct.Struct("!HHHH")
NO_CHECKSUM: Final = 0
_MOD: Final = 0xFFFF
_MAX_LENGTH: Final = 0xFFFF


class UdpReject(StrEnum):
    """Why a datagram was refused; the input path counts drops by member."""

    TOO_SHORT = "shorter than the 8-byte header"
    LENGTH_SHORT = "length field smaller than the header"
    LENGTH_LONG = "length field larger than the bytes present"
    BAD_CHECKSUM = "checksum mismatch"
    PORT_ZERO = "destination port 0"


def pseudo_header_sum(src: int, dst: int, length: int) -> int:
    """Pseudo-header words (addresses, protocol, UDP length), unreduced."""
    return src + dst + IpProto.UDP + length


def check_length(length: int, available: int) -> None:
    if length < UDP_HEADER_SIZE:
        raise WireError("udp.length", length, UdpReject.LENGTH_SHORT)
    if length > available:
        raise WireError("udp.length", length, UdpReject.LENGTH_LONG)


def segment_checksum_ok(
    data: bytes | bytearray | memoryview, start: int, end: int, src: int, dst: int
) -> bool:
    """Whether the segment ``data[start:end]`` (checksum field included) checks out.

    A correct segment sums to 0xffff with its pseudo-header; the pseudo-header's
    protocol word keeps the sum from being zero, so 0 modulo 0xffff means 0xffff.
    """
    return (residue(data, start, end) + pseudo_header_sum(src, dst, end - start)) % _MOD == 0


def checksum_field(words: int) -> int:
    """The field for a segment whose other words (pseudo-header included) sum to ``words``.

    A computed 0 is sent as 0xffff, since a 0 field means "no checksum".
    """
    return _MOD - words % _MOD if words % _MOD else _MOD


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    SIZE: ClassVar[int] = UDP_HEADER_SIZE

    sport: int
    dport: int
    payload: bytes = b""

    @property
    def length(self) -> int:
        return UDP_HEADER_SIZE + len(self.payload)

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        src: IPv4Address,
        dst: IPv4Address,
        verify: bool = True,
    ) -> Self:
        """Check and decode; bytes past the length field are dropped. Checksum 0 is not checked."""
        data = octets(data)
        size = len(data)
        if size < UDP_HEADER_SIZE:
            raise WireError("udp.size", size, UdpReject.TOO_SHORT)
        sport, dport, length, cksum = HEADER.unpack_from(data)
        if dport == 0:  # no socket can listen there (smoltcp's UdpRepr::parse agrees)
            raise WireError("udp.dport", dport, UdpReject.PORT_ZERO)
        check_length(length, size)
        if (
            verify
            and cksum != NO_CHECKSUM
            and not segment_checksum_ok(data, 0, length, int(src), int(dst))
        ):
            raise WireError("udp.checksum", cksum, UdpReject.BAD_CHECKSUM)
        return cls(sport, dport, bytes(data[UDP_HEADER_SIZE:length]))

    def emit(self, src: IPv4Address, dst: IPv4Address) -> bytes:
        length = self.length
        if length > _MAX_LENGTH:
            raise WireError("udp.length", length, "datagram too long")
        words = pseudo_header_sum(int(src), int(dst), length) + self.sport + self.dport + length
        cksum = checksum_field(words + residue(self.payload))
        try:
            return HEADER.pack(self.sport, self.dport, length, cksum) + self.payload
        except struct.error as exc:
            raise WireError("udp.port", (self.sport, self.dport), f"out of range: {exc}") from None
