"""Ethernet II frames, MAC address helpers.

The debugnet input path drops VLAN-tagged frames rather than untagging them, so
the parser refuses them with a reason of their own instead of decoding a tag.
"""

from __future__ import annotations

import string
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import ClassVar, Final, Self

from debugnet.errors import WireError
from debugnet.wire.constants import ETHER_FCS_SIZE, ETHER_HEADER_SIZE, ETHER_MIN_FRAME
from debugnet.wire.octets import octets

HEADER: Final = struct.Struct("!6s6sH")
FCS: Final = struct.Struct("<I")
MAC_SIZE: Final = 6
BROADCAST_MAC: Final = b"\xff" * MAC_SIZE
ZERO_MAC: Final = bytes(MAC_SIZE)
_HEX: Final = frozenset(string.hexdigits)


class EtherType(IntEnum):
    IPV4 = 0x0800
    ARP = 0x0806
    VLAN = 0x8100
    QINQ = 0x88A8
    IPV6 = 0x86DD


VLAN_ETHERTYPES: Final = frozenset({EtherType.VLAN, EtherType.QINQ})


class EtherReject(StrEnum):
    """Why a frame was refused; the input path counts drops by member."""

    RUNT = "shorter than the Ethernet header"
    VLAN = "VLAN-tagged frame"
    BAD_FCS = "frame check sequence mismatch"


_KNOWN: Final = {int(t): t for t in EtherType}


def known_ethertype(value: int) -> int:
    """The EtherType member for ``value`` when there is one, else ``value``."""
    return _KNOWN.get(value, value)


def mac_to_str(mac: bytes) -> str:
    return mac.hex(":")


def mac_from_str(text: str) -> bytes:
    """Parse ``aa:bb:cc:dd:ee:ff`` (or with ``-``) into 6 bytes."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != MAC_SIZE or not all(1 <= len(p) <= 2 and _HEX.issuperset(p) for p in parts):
        raise WireError("mac", text, "not six colon-separated hex octets")
    return bytes(int(p, 16) for p in parts)


def check_mac(field: str, mac: object) -> None:
    if not isinstance(mac, bytes) or len(mac) != MAC_SIZE:
        raise WireError(field, mac, "a MAC address is 6 bytes")


def fcs(frame: bytes | bytearray | memoryview) -> bytes:
    """The 4 FCS bytes as they follow the frame on the wire (CRC-32, LSB first)."""
    return FCS.pack(zlib.crc32(frame))


def split_header(
    data: bytes | bytearray | memoryview, has_fcs: bool, check_fcs: bool
) -> tuple[bytes, bytes, int, int]:
    """Check a frame's header and FCS; return dst, src, ethertype and the payload's end."""
    size = len(data)
    end = size - ETHER_FCS_SIZE if has_fcs else size
    if end < ETHER_HEADER_SIZE:
        raise WireError("ethernet.length", size, EtherReject.RUNT)
    if has_fcs and check_fcs and fcs(data[:end]) != bytes(data[end:]):
        raise WireError("ethernet.fcs", bytes(data[end:]).hex(), EtherReject.BAD_FCS)
    dst, src, ethertype = HEADER.unpack_from(data)
    if ethertype in VLAN_ETHERTYPES:
        raise WireError("ethernet.ethertype", ethertype, EtherReject.VLAN)
    return dst, src, ethertype, end


@dataclass(frozen=True, slots=True)
class EthernetFrame:
    """An Ethernet II frame; ``payload`` keeps any padding the sender added."""

    SIZE: ClassVar[int] = ETHER_HEADER_SIZE

    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        check_mac("ethernet.dst", self.dst)
        check_mac("ethernet.src", self.src)

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        has_fcs: bool = False,
        check_fcs: bool = False,
    ) -> Self:
        """Split a frame; with ``has_fcs`` its last 4 bytes are an FCS to drop (or check)."""
        data = octets(data)
        dst, src, ethertype, end = split_header(data, has_fcs, check_fcs)
        return cls(dst, src, known_ethertype(ethertype), bytes(data[ETHER_HEADER_SIZE:end]))

    def emit(self, pad: bool = True, with_fcs: bool = False) -> bytes:
        """The frame bytes; ``pad`` zero-fills runts to the 60-byte minimum."""
        try:
            frame = HEADER.pack(self.dst, self.src, self.ethertype) + self.payload
        except struct.error as exc:
            raise WireError("ethernet.ethertype", self.ethertype, f"out of range: {exc}") from None
        if pad and len(frame) < ETHER_MIN_FRAME:
            frame += bytes(ETHER_MIN_FRAME - len(frame))
        return frame + fcs(frame) if with_fcs else frame
