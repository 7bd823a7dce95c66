"""Ethernet/IPv4/UDP headers around a transport datagram (netdump_udp_output).

Everything fixed for the flow (MACs, addresses, our port) and its share of
both checksums is computed once; a frame then costs one ``struct.pack``, one
pass over the payload for the UDP checksum and one concatenation. IP id 0,
DF set, TTL 255, as the seed sends.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from typing import Final

from debugnet.wire import udp
from debugnet.wire.checksum import residue
from debugnet.wire.constants import ETHER_HEADER_SIZE, ETHER_MIN_FRAME
from debugnet.wire.ethernet import EtherType
from debugnet.wire.ipv4 import DEFAULT_TTL, VERSION_IHL, IpProto, Ipv4Flag, header_checksum

HEADERS: Final = struct.Struct("!6s6sHBBHHHBBHIIHHHH")
"""Ethernet, IPv4 and UDP headers: 42 bytes."""
IP_UDP_SIZE: Final = 28
_DF: Final = Ipv4Flag.DF << 13
_IPV4: Final = int(EtherType.IPV4)
_UDP: Final = int(IpProto.UDP)
_MOD: Final = 0xFFFF


class UdpFramer:
    """Frames from ``src_ip:sport`` (our MAC) to ``dst_ip`` through ``next_hop``'s MAC."""

    __slots__ = ("_dst", "_dst_mac", "_ip_words", "_src", "_src_mac", "_udp_words", "mtu", "sport")

    def __init__(
        self,
        src_mac: bytes,
        next_hop: bytes,
        src_ip: IPv4Address,
        dst_ip: IPv4Address,
        sport: int,
        mtu: int,
    ) -> None:
        self._src_mac = src_mac
        self._dst_mac = next_hop
        self._src = int(src_ip)
        self._dst = int(dst_ip)
        self.sport = sport
        self.mtu = mtu
        self._ip_words = (
            (VERSION_IHL << 8) + _DF + (DEFAULT_TTL << 8) + _UDP + self._src + self._dst
        )
        self._udp_words = udp.pseudo_header_sum(self._src, self._dst, 0) + sport

    def frame(self, payload: bytes, dport: int) -> bytes | None:
        """The frame, or None when the IP packet would exceed the MTU (the caller's ENOBUFS)."""
        total = IP_UDP_SIZE + len(payload)
        if total > self.mtu:
            return None
        ulen = total - 20
        ucheck = udp.checksum_field(self._udp_words + dport + 2 * ulen + residue(payload))
        frame = (
            HEADERS.pack(
                self._dst_mac,
                self._src_mac,
                _IPV4,
                VERSION_IHL,
                0,
                total,
                0,
                _DF,
                DEFAULT_TTL,
                _UDP,
                header_checksum(self._ip_words + total),
                self._src,
                self._dst,
                self.sport,
                dport,
                ulen,
                ucheck,
            )
            + payload
        )
        if total + ETHER_HEADER_SIZE < ETHER_MIN_FRAME:
            frame += bytes(ETHER_MIN_FRAME - ETHER_HEADER_SIZE - total)
        return frame

    def frames(self, datagrams: list[tuple[bytes, int]]) -> list[bytes] | None:
        """``frame`` for each (payload, port), in one loop; None if any exceeds the MTU.

        The same bytes as ``frame`` gives, at a fraction of its per-frame cost:
        the hot path of a windowed transfer, hundreds of frames per call.
        """
        pack, mtu, dst_mac, src_mac = HEADERS.pack, self.mtu, self._dst_mac, self._src_mac
        src, dst, sport = self._src, self._dst, self.sport
        ip_words, udp_words = self._ip_words, self._udp_words
        out: list[bytes] = []
        append = out.append
        for payload, dport in datagrams:
            total = IP_UDP_SIZE + len(payload)
            if total > mtu:
                return None
            ulen = total - 20
            words = udp_words + dport + 2 * ulen + residue(payload)
            ucheck = _MOD - words % _MOD if words % _MOD else _MOD
            header = pack(
                dst_mac, src_mac, _IPV4, VERSION_IHL, 0, total, 0, _DF, DEFAULT_TTL, _UDP,
                -(ip_words + total) % _MOD, src, dst, sport, dport, ulen, ucheck,
            )  # fmt: skip
            if total + ETHER_HEADER_SIZE < ETHER_MIN_FRAME:
                append(header + payload + bytes(ETHER_MIN_FRAME - ETHER_HEADER_SIZE - total))
            else:
                append(header + payload)
        return out
