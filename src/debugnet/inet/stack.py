"""The client's own Ethernet/IPv4/UDP input and output, sans-I/O.

Frames and ``now`` in, frames and deadlines out: ``input`` takes one received
frame with the driver's flags and returns the UDP payload for the transport
(with the server's source port) or None; ``frames_to_send`` drains ARP
requests and replies; ``output`` wraps a transport datagram. The same object
runs over AF_PACKET, TAP and the in-memory wire.

The input checks replicate ether_input, ip_input and udp_input as the seeds
do (000 debugnet_pkt_in, 001 netdump_handle_ip): each drop is counted by
reason in ``stats.drops`` and logged at debug level. Checksums are verified
in software unless the driver says the kernel verified them or has not
filled them in (a local sender), as the seed trusts CSUM_IP_CHECKED.
"""

from __future__ import annotations

import logging
import struct
from enum import Enum
from typing import Final

from debugnet.errors import LocalProtocolError, NoBuffers, TimedOut
from debugnet.ifnet.rxinfo import CSUM_TRUSTED, NO_RXINFO, RxFlags, RxInfo
from debugnet.inet.arp import Arp, ArpState
from debugnet.inet.config import StackConfig
from debugnet.inet.drops import Drop, InetStats
from debugnet.inet.framer import UdpFramer
from debugnet.wire import ipv4, udp
from debugnet.wire.checksum import residue
from debugnet.wire.ethernet import BROADCAST_MAC, EtherType
from debugnet.wire.ipv4 import IpProto

log = logging.getLogger(__name__)

_ETHER: Final = 14
_IP: Final = 20
_UDP_AT: Final = _ETHER + _IP
_PAYLOAD_AT: Final = _UDP_AT + 8
_ETHERTYPE: Final = struct.Struct("!H")
_IP_HEADER: Final = ipv4.HEADER
_UDP_HEADER: Final = udp.HEADER
_ARP: Final = int(EtherType.ARP)
_IPV4: Final = int(EtherType.IPV4)
_VLANS: Final = frozenset({int(EtherType.VLAN), int(EtherType.QINQ)})
_UDP: Final = int(IpProto.UDP)
_ICMP: Final = int(IpProto.ICMP)
_FRAGMENT_BITS: Final = 0x3FFF
_VERSION_IHL: Final = ipv4.VERSION_IHL
_FCS: Final = int(RxFlags.FCS)
_VLAN: Final = int(RxFlags.VLAN)
_TRUSTED: Final = int(CSUM_TRUSTED)
_FCS_OR_VLAN: Final = _FCS | _VLAN
_FAST: Final = struct.Struct("!6s6x3sxH2xHxB2x8sHHHH")
"""What the fast path judges: destination MAC; ethertype and version/IHL as 3 bytes; total
length, fragment field, protocol; source and destination address as 8 bytes; the UDP header."""
_IPV4_LEAD: Final = struct.pack("!HB", _IPV4, _VERSION_IHL)


class StackState(Enum):
    IDLE = "idle"
    RESOLVING = "resolving next hop"
    HAVE_GW_MAC = "next hop known"
    FAILED = "failed"


class InetStack:
    """One client's ARP/IPv4/UDP on one interface, talking to one server."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.stats = InetStats()
        self.arp = Arp(config)
        self._lladdr = config.lladdr
        self._server = int(config.server)
        self._client = int(config.client)
        self._port = config.client_port
        self._addrs = config.server.packed + config.client.packed
        self._framer: UdpFramer | None = None

    # -- state and timers ----------------------------------------------------------

    @property
    def state(self) -> StackState:
        return _STATES[self.arp.state]

    @property
    def error(self) -> TimedOut | None:
        return self.arp.error

    @property
    def next_hop_mac(self) -> bytes | None:
        return self.arp.next_hop_mac

    def start(self, now: float) -> None:
        """Start resolving the next hop's MAC (the first ARP request is queued)."""
        self.arp.start(now)

    def next_deadline(self) -> float | None:
        return self.arp.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.arp.handle_timer(now)

    def frames_to_send(self) -> list[bytes]:
        """ARP requests and replies waiting to go out."""
        out = self.arp.outbox
        if not out:
            return out
        self.arp.outbox = []
        self.stats.arp_requests_sent = self.arp.requests_sent
        self.stats.arp_replies_sent = self.arp.replies_sent
        return out

    # -- output ------------------------------------------------------------------------

    def output(self, payload: bytes, dport: int) -> bytes:
        """The frame carrying ``payload`` to the server's ``dport`` (netdump_udp_output).

        LocalProtocolError before the next hop is known; ENOBUFS when the IP
        packet would exceed the MTU.
        """
        frame = self._get_framer().frame(payload, dport)
        if frame is None:
            raise NoBuffers(f"packet is too big: {28 + len(payload)} > MTU {self.config.mtu}")
        return frame

    def output_many(self, datagrams: list[tuple[bytes, int]]) -> list[bytes]:
        """``output`` for a list of (payload, port): the frames, byte for byte the same.

        A window's worth at once; ENOBUFS (and no frame) if any is too big.
        """
        frames = self._get_framer().frames(datagrams)
        if frames is None:
            big = max(len(payload) for payload, _ in datagrams)
            raise NoBuffers(f"packet is too big: {28 + big} > MTU {self.config.mtu}")
        return frames

    def _get_framer(self) -> UdpFramer:
        framer = self._framer
        if framer is None:
            mac = self.arp.next_hop_mac
            if mac is None:
                raise LocalProtocolError("no output before the next hop's MAC is known")
            cfg = self.config
            framer = UdpFramer(cfg.lladdr, mac, cfg.client, cfg.server, cfg.client_port, cfg.mtu)
            self._framer = framer
        return framer

    # -- input -------------------------------------------------------------------------

    def input(self, frame: bytes, rx: RxInfo = NO_RXINFO) -> tuple[bytes, int] | None:
        """One received frame; the UDP payload and source port for the transport, or None."""
        flags = rx.flags
        if not flags & _FCS_OR_VLAN:
            got = self._fast(frame, flags & _TRUSTED)
            if got is not None:
                return got
        return self._checked(frame, flags, rx)

    def _fast(self, frame: bytes, trusted: int) -> tuple[bytes, int] | None:
        """A well-formed datagram from the server, in one header unpack; None for anything else.

        Accepts exactly what ``_checked`` would deliver, with the same counters;
        everything else (ARP, every drop, anything unusual) goes the long way,
        where it is counted and logged.
        """
        size = len(frame)
        if size < _PAYLOAD_AT:
            return None
        dst, lead, total, frag, proto, addrs, sport, dport, ulen, ucheck = _FAST.unpack_from(frame)
        if (
            dst != self._lladdr
            or lead != _IPV4_LEAD
            or addrs != self._addrs
            or proto != _UDP
            or dport != self._port
            or frag & _FRAGMENT_BITS
            or ulen < 8
            or ulen + _IP > total
            or total + _ETHER > size
            or self.arp.state is not ArpState.RESOLVED
        ):
            return None
        end = _UDP_AT + ulen
        if trusted:
            self.stats.trusted += 1
        elif residue(frame, _ETHER, _UDP_AT) or (
            ucheck and not udp.segment_checksum_ok(frame, _UDP_AT, end, self._server, self._client)
        ):
            return None
        if total + _ETHER < size:
            self.stats.trimmed += 1  # Ethernet padding: a short frame is padded to 60 bytes
        self.stats.delivered += 1
        return frame[_PAYLOAD_AT:end], sport

    def _checked(self, frame: bytes, flags: int, rx: RxInfo) -> tuple[bytes, int] | None:
        """Every check in the seed's order, each failure counted by its reason."""
        end = len(frame)
        if flags & _FCS:
            end -= 4
            self.stats.fcs_stripped += 1
        if end < _ETHER:
            return self._drop(Drop.RUNT, end)
        if flags & _VLAN:
            return self._drop(Drop.VLAN_STRIPPED, rx.vlan_tci)
        ethertype = _ETHERTYPE.unpack_from(frame, 12)[0]
        if ethertype in _VLANS:
            return self._drop(Drop.VLAN_TAGGED, ethertype)
        dst = frame[:6]
        if ethertype == _ARP:
            if dst != self._lladdr and dst != BROADCAST_MAC:
                return self._drop(Drop.NOT_OUR_MAC, dst.hex(":"))
            reason = self.arp.input(memoryview(frame)[_ETHER:end])
            return None if reason is None else self._drop(reason, "arp")
        if dst != self._lladdr:
            return self._drop(Drop.NOT_OUR_MAC, dst.hex(":"))
        if ethertype != _IPV4:
            return self._drop(Drop.ETHERTYPE, hex(ethertype))
        return self._ip(frame, end, flags & _TRUSTED)

    def _ip(self, frame: bytes, end: int, trusted: int) -> tuple[bytes, int] | None:
        """ip_input's checks in the seed's order (001:518-624); padding is trimmed."""
        if self.arp.state is not ArpState.RESOLVED:
            return self._drop(Drop.IP_NO_NEXT_HOP, self.arp.state.value)
        available = end - _ETHER
        if available < _IP:
            return self._drop(Drop.IP_SHORT, available)
        vihl, tos, total, ident, frag, ttl, proto, cksum, src, dst = _IP_HEADER.unpack_from(
            frame, _ETHER
        )
        if vihl != _VERSION_IHL:
            return self._drop(_shape(vihl), vihl)
        if trusted:
            self.stats.trusted += 1
        elif (
            (vihl << 8) + tos + total + ident + frag + (ttl << 8) + proto + cksum + src + dst
        ) % 0xFFFF:
            return self._drop(Drop.IP_CHECKSUM, cksum)
        if total < _IP:
            return self._drop(Drop.IP_LENGTH_SHORT, total)
        if total > available:
            return self._drop(Drop.IP_LENGTH_LONG, total)
        if total < available:
            self.stats.trimmed += 1  # Ethernet padding: a short frame is padded to 60 bytes
        if src != self._server:
            return self._drop(Drop.IP_NOT_FROM_SERVER, src)
        if dst != self._client:
            return self._drop(Drop.IP_NOT_TO_US, dst)
        if proto != _UDP:
            return self._drop(Drop.ICMP if proto == _ICMP else Drop.IP_PROTO, proto)
        if frag & _FRAGMENT_BITS:
            return self._drop(Drop.IP_FRAGMENT, frag)
        return self._udp(frame, total - _IP, src, dst, trusted)

    def _udp(
        self, frame: bytes, segment: int, src: int, dst: int, trusted: int
    ) -> tuple[bytes, int] | None:
        if segment < 8:
            return self._drop(Drop.UDP_SHORT, segment)
        sport, dport, ulen, ucheck = _UDP_HEADER.unpack_from(frame, _UDP_AT)
        if dport != self._port:
            return self._drop(Drop.UDP_PORT, dport)
        if ulen < 8 or ulen > segment:
            return self._drop(Drop.UDP_LENGTH, ulen)
        end = _UDP_AT + ulen
        if not trusted and ucheck and not udp.segment_checksum_ok(frame, _UDP_AT, end, src, dst):
            return self._drop(Drop.UDP_CHECKSUM, ucheck)
        self.stats.delivered += 1
        return frame[_PAYLOAD_AT:end], sport

    def _drop(self, reason: Drop, value: object) -> tuple[bytes, int] | None:
        """Count and log one drop; returns None so callers can ``return self._drop(...)``."""
        self.stats.drops[reason] += 1
        log.debug("drop: %s (%s)", reason.value, value)
        return None


def _shape(vihl: int) -> Drop:
    if vihl >> 4 != 4:
        return Drop.IP_VERSION
    return Drop.IP_IHL if vihl & 0xF < 5 else Drop.IP_OPTIONS


_STATES: Final = {
    ArpState.IDLE: StackState.IDLE,
    ArpState.RESOLVING: StackState.RESOLVING,
    ArpState.RESOLVED: StackState.HAVE_GW_MAC,
    ArpState.FAILED: StackState.FAILED,
}
