"""IPv4 without options or fragments, as the debugnet client sends and accepts it.

Every refusal carries an ``Ipv4Reject`` member as its reason so the input path
can count drops by cause. Source, destination and protocol are checked by the
input path, which knows the addresses; the parser only checks the packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum
from ipaddress import IPv4Address
from typing import ClassVar, Final, NoReturn, Self

from debugnet.errors import WireError
from debugnet.wire.constants import IPV4_HEADER_SIZE
from debugnet.wire.octets import octets

HEADER: Final = struct.Struct("!BBHHHBBHII")
VERSION_IHL: Final = 0x45
DEFAULT_TTL: Final = 255
_FLAGS_SHIFT: Final = 13
_OFFSET_MASK: Final = 0x1FFF
_FRAGMENT_BITS: Final = (1 << _FLAGS_SHIFT) | _OFFSET_MASK
"""MF and the fragment offset: set in every fragment of a fragmented packet."""
_MOD: Final = 0xFFFF


class IpProto(IntEnum):
    ICMP = 1
    TCP = 6
    UDP = 17


class Ipv4Flag(IntFlag):
    MF = 1
    DF = 2
    RESERVED = 4


class Ipv4Reject(StrEnum):
    """Why a packet was refused (PROTOCOL.md §4); the input path counts by member."""

    TOO_SHORT = "shorter than the 20-byte header"
    BAD_VERSION = "version is not 4"
    BAD_IHL = "header length below 20 bytes"
    OPTIONS = "IP options are not supported"
    BAD_CHECKSUM = "header checksum mismatch"
    LENGTH_SHORT = "total length smaller than the header"
    LENGTH_LONG = "total length larger than the frame"
    FRAGMENT = "fragments are not supported"


_PROTOS: Final = {int(p): p for p in IpProto}


def check_addr(field: str, addr: object) -> None:
    if not isinstance(addr, IPv4Address):
        raise WireError(field, addr, "an IPv4 address must be an ipaddress.IPv4Address")


def check(fields: tuple[int, ...], available: int, verify_checksum: bool = True) -> None:
    """Apply the §4 checks to unpacked ``HEADER`` fields of a packet of ``available`` bytes."""
    vihl, tos, total, ident, frag, ttl, proto, cksum, src, dst = fields
    if vihl != VERSION_IHL:
        _refuse_shape(vihl)
    # A version-4 header is never all zero, so a correct sum is 0xffff, i.e. 0 mod 0xffff;
    # and each big-endian field contributes its own value modulo 0xffff.
    words = (vihl << 8) + tos + total + ident + frag + (ttl << 8) + proto + cksum + src + dst
    if verify_checksum and words % _MOD:
        raise WireError("ipv4.checksum", cksum, Ipv4Reject.BAD_CHECKSUM)
    if total < IPV4_HEADER_SIZE:
        raise WireError("ipv4.total_length", total, Ipv4Reject.LENGTH_SHORT)
    if total > available:
        raise WireError("ipv4.total_length", total, Ipv4Reject.LENGTH_LONG)
    if frag & _FRAGMENT_BITS:
        raise WireError("ipv4.fragment", frag, Ipv4Reject.FRAGMENT)


def _refuse_shape(vihl: int) -> NoReturn:
    if vihl >> 4 != 4:
        raise WireError("ipv4.version", vihl >> 4, Ipv4Reject.BAD_VERSION)
    ihl = vihl & 0xF
    if ihl < 5:
        raise WireError("ipv4.ihl", ihl, Ipv4Reject.BAD_IHL)
    raise WireError("ipv4.ihl", ihl, Ipv4Reject.OPTIONS)


def header_checksum(fields_sum: int) -> int:
    """The checksum field for a header whose other words sum to ``fields_sum``."""
    return -fields_sum % _MOD


@dataclass(frozen=True, slots=True)
class Ipv4Packet:
    """A packet; ``payload`` is exactly ``total_length - 20`` bytes."""

    SIZE: ClassVar[int] = IPV4_HEADER_SIZE

    src: IPv4Address
    dst: IPv4Address
    proto: int
    payload: bytes = b""
    ttl: int = DEFAULT_TTL
    tos: int = 0
    ident: int = 0
    flags: int = Ipv4Flag.DF
    frag_offset: int = 0

    def __post_init__(self) -> None:
        check_addr("ipv4.src", self.src)
        check_addr("ipv4.dst", self.dst)

    @property
    def total_length(self) -> int:
        return IPV4_HEADER_SIZE + len(self.payload)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, verify_checksum: bool = True) -> Self:
        """Check and decode; bytes past the total length (Ethernet padding) are dropped."""
        data = octets(data)
        size = len(data)
        if size < IPV4_HEADER_SIZE:
            raise WireError("ipv4.length", size, Ipv4Reject.TOO_SHORT)
        fields = HEADER.unpack_from(data)
        check(fields, size, verify_checksum)
        _, tos, total, ident, frag, ttl, proto, _, src, dst = fields
        return cls(
            IPv4Address(src),
            IPv4Address(dst),
            _PROTOS.get(proto, proto),
            bytes(data[IPV4_HEADER_SIZE:total]),
            ttl,
            tos,
            ident,
            Ipv4Flag(frag >> _FLAGS_SHIFT),
            frag & _OFFSET_MASK,
        )

    def emit(self) -> bytes:
        if not (0 <= self.flags <= 7 and 0 <= self.frag_offset <= _OFFSET_MASK):
            raise WireError("ipv4.fragment", (self.flags, self.frag_offset), "out of range")
        frag = (self.flags << _FLAGS_SHIFT) | self.frag_offset
        total = self.total_length
        src = int(self.src)
        dst = int(self.dst)
        words = (VERSION_IHL << 8) + self.tos + total + self.ident + frag
        words += (self.ttl << 8) + self.proto + src + dst
        try:
            header = HEADER.pack(
                VERSION_IHL,
                self.tos,
                total,
                self.ident,
                frag,
                self.ttl,
                self.proto,
                header_checksum(words),
                src,
                dst,
            )
        except struct.error as exc:
            fields = (self.proto, self.ttl, self.tos, self.ident, total)
            raise WireError("ipv4", fields, f"field out of range: {exc}") from None
        return header + self.payload
