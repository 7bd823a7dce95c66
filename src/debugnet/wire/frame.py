"""Whole Ethernet/IPv4/UDP/debugnet frames in one call: the hot path.

Building goes through a ``FrameTemplate`` that holds everything fixed for a
flow (addresses, ports, and those fields' contribution to both checksums), so
a frame costs one ``struct.pack``, one pass over the data for the UDP checksum
and one concatenation. Parsing unpacks each header in place and applies the
same checks as the per-format parsers (it calls their check functions), then
copies the message data once.

Checksum arithmetic works modulo 0xffff: any big-endian field at an even
offset contributes its value, whatever its width (see ``checksum``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Address
from typing import Final

from debugnet.errors import WireError
from debugnet.wire import ipv4, udp
from debugnet.wire.checksum import residue
from debugnet.wire.constants import ETHER_HEADER_SIZE, ETHER_MIN_FRAME
from debugnet.wire.ethernet import EtherType, check_mac, split_header
from debugnet.wire.ipv4 import DEFAULT_TTL, VERSION_IHL, IpProto, Ipv4Flag, Ipv4Reject, check_addr
from debugnet.wire.message import ACK, Ack, Message, MessageHeader, unpack_message
from debugnet.wire.octets import octets
from debugnet.wire.udp import UdpReject

_LINK: Final = "!6s6sH"
_NET: Final = "BBHHHBBHIIHHHH"
MESSAGE_FRAME: Final = struct.Struct(_LINK + _NET + "IIQII")
"""Ethernet, IPv4, UDP and debugnet message headers: 66 bytes."""
ACK_FRAME: Final = struct.Struct(_LINK + _NET + "I")
# Plain ints and structs bound once: the hot paths read them on every frame.
_IPV4: Final = int(EtherType.IPV4)
_UDP: Final = int(IpProto.UDP)
_DF: Final = Ipv4Flag.DF << 13
_IP_HEADER: Final = ipv4.HEADER
_UDP_HEADER: Final = udp.HEADER
_IP_SIZE: Final = ipv4.HEADER.size
_UDP_SIZE: Final = udp.HEADER.size
_UDP_AND_HEADER: Final = _UDP_SIZE + MessageHeader.SIZE
IP_OFFSET: Final = ETHER_HEADER_SIZE
UDP_OFFSET: Final = IP_OFFSET + _IP_SIZE
PAYLOAD_OFFSET: Final = UDP_OFFSET + _UDP_SIZE
DATA_OFFSET: Final = PAYLOAD_OFFSET + MessageHeader.SIZE


@dataclass(frozen=True, slots=True)
class FrameTemplate:
    """One direction of a flow; builds its frames with precomputed partial sums."""

    src_mac: bytes
    dst_mac: bytes
    src_ip: IPv4Address
    dst_ip: IPv4Address
    sport: int
    dport: int
    _ip_words: int = field(init=False, repr=False, compare=False)
    _udp_words: int = field(init=False, repr=False, compare=False)
    _src: int = field(init=False, repr=False, compare=False)
    _dst: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_mac("frame.src_mac", self.src_mac)
        check_mac("frame.dst_mac", self.dst_mac)
        check_addr("frame.src_ip", self.src_ip)
        check_addr("frame.dst_ip", self.dst_ip)
        for name, port in (("frame.sport", self.sport), ("frame.dport", self.dport)):
            if not 0 <= port <= 0xFFFF:
                raise WireError(name, port, "not a 16-bit port")
        src, dst = int(self.src_ip), int(self.dst_ip)
        ip_words = (VERSION_IHL << 8) + _DF + (DEFAULT_TTL << 8) + _UDP + src + dst
        udp_words = udp.pseudo_header_sum(src, dst, 0) + self.sport + self.dport
        derived = {"_ip_words": ip_words, "_udp_words": udp_words, "_src": src, "_dst": dst}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def reversed(self) -> FrameTemplate:
        """The template for answering this flow's peer."""
        return FrameTemplate(
            self.dst_mac, self.src_mac, self.dst_ip, self.src_ip, self.dport, self.sport
        )

    def message(
        self, type: int, seqno: int, data: bytes = b"", offset: int = 0, aux2: int = 0
    ) -> bytes:
        """A frame carrying one debugnet message (padded to 60 bytes if short)."""
        size = len(data)
        ulen = _UDP_AND_HEADER + size
        words = self._udp_words + 2 * ulen + type + seqno + offset + size + aux2 + residue(data)
        try:
            frame = (
                MESSAGE_FRAME.pack(
                    *self._headers(ulen, udp.checksum_field(words)), type, seqno, offset, size, aux2
                )
                + data
            )
        except struct.error as exc:
            raise WireError(
                "frame", (type, seqno, offset, size, aux2), f"out of range: {exc}"
            ) from None
        if len(frame) < ETHER_MIN_FRAME:
            frame += bytes(ETHER_MIN_FRAME - len(frame))
        return frame

    def ack(self, seqno: int) -> bytes:
        """A frame carrying an ack, padded to the 60-byte minimum."""
        ulen = _UDP_SIZE + ACK.size
        ucheck = udp.checksum_field(self._udp_words + 2 * ulen + seqno)
        try:
            frame = ACK_FRAME.pack(*self._headers(ulen, ucheck), seqno)
        except struct.error as exc:
            raise WireError("ack.seqno", seqno, f"out of range: {exc}") from None
        return frame + bytes(ETHER_MIN_FRAME - len(frame))

    def _headers(self, ulen: int, ucheck: int) -> tuple[bytes | int, ...]:
        """Field values of the Ethernet, IPv4 and UDP headers, in ``_LINK + _NET`` order."""
        total = _IP_SIZE + ulen
        return (
            self.dst_mac,
            self.src_mac,
            _IPV4,
            VERSION_IHL,
            0,
            total,
            0,
            _DF,
            DEFAULT_TTL,
            _UDP,
            ipv4.header_checksum(self._ip_words + total),
            self._src,
            self._dst,
            self.sport,
            self.dport,
            ulen,
            ucheck,
        )


def build_data_frame(template: FrameTemplate, header: MessageHeader, data: bytes) -> bytes:
    """The frame for ``header`` and its data; the header's length must match."""
    if header.length != len(data):
        raise WireError("message.mh_len", header.length, f"data is {len(data)} bytes")
    return template.message(header.type, header.seqno, data, header.offset, header.aux2)


@dataclass(frozen=True, slots=True)
class DebugnetFrame:
    """A parsed frame: who sent it to whom, and the message or ack it carried."""

    dst_mac: bytes
    src_mac: bytes
    src_ip: IPv4Address
    dst_ip: IPv4Address
    sport: int
    dport: int
    body: Message | Ack

    def reply_template(self) -> FrameTemplate:
        """The template for answering the sender of this frame."""
        return FrameTemplate(
            self.dst_mac, self.src_mac, self.dst_ip, self.src_ip, self.dport, self.sport
        )


def parse_frame(
    data: bytes | bytearray | memoryview,
    has_fcs: bool = False,
    check_fcs: bool = False,
    verify: bool = True,
) -> DebugnetFrame:
    """Check every layer (both checksums when ``verify``) and decode a debugnet frame."""
    data = octets(data)
    dst_mac, src_mac, ethertype, end = split_header(data, has_fcs, check_fcs)
    if ethertype != _IPV4:
        raise WireError("ethernet.ethertype", ethertype, "not IPv4")
    available = end - IP_OFFSET
    if available < _IP_SIZE:
        raise WireError("ipv4.length", available, Ipv4Reject.TOO_SHORT)
    fields = _IP_HEADER.unpack_from(data, IP_OFFSET)
    ipv4.check(fields, available, verify)
    if fields[6] != _UDP:
        raise WireError("ipv4.proto", fields[6], "not UDP")
    segment = fields[2] - _IP_SIZE
    if segment < _UDP_SIZE:
        raise WireError("udp.size", segment, UdpReject.TOO_SHORT)
    sport, dport, ulen, ucheck = _UDP_HEADER.unpack_from(data, UDP_OFFSET)
    udp.check_length(ulen, segment)
    src, dst = fields[8], fields[9]
    payload_end = UDP_OFFSET + ulen
    if verify and ucheck and not udp.segment_checksum_ok(data, UDP_OFFSET, payload_end, src, dst):
        raise WireError("udp.checksum", ucheck, UdpReject.BAD_CHECKSUM)
    body: Message | Ack
    if payload_end - PAYLOAD_OFFSET == Ack.SIZE:
        body = Ack(ACK.unpack_from(data, PAYLOAD_OFFSET)[0])
    else:
        body = _message(data, payload_end)
    return DebugnetFrame(dst_mac, src_mac, _address(src), _address(dst), sport, dport, body)


def _message(data: bytes | bytearray | memoryview, end: int) -> Message:
    """``Message.parse`` of ``data[PAYLOAD_OFFSET:end]`` without slicing it twice."""
    header = MessageHeader(*unpack_message(data, PAYLOAD_OFFSET, end))
    return Message(header, bytes(data[DATA_OFFSET:end]))


@lru_cache(maxsize=1024)
def _address(value: int) -> IPv4Address:
    """Interned addresses: a flow's frames all carry the same two."""
    return IPv4Address(value)
