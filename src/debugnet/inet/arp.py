"""ARP for the client: resolve the next hop, answer requests for our address.

Resolution follows netdump_arp_gw (seed 001:338-367): up to ``arp_nretries``
requests for the server, each given ``npolls`` polls; then, if a gateway is
set and differs from the server, the same for the gateway; then ETIMEDOUT.
A reply is accepted only while resolving and only from the address being
resolved, and a MAC is never learnt from a request. The responder answers a
request for our address with a fresh 28-byte reply unicast to the sender MAC
given in the ARP payload (001:736-790). Packets whose hardware or protocol
address lengths are not 6 and 4 are dropped before any field is read.
"""

from __future__ import annotations

import logging
import struct
from enum import Enum
from ipaddress import IPv4Address
from typing import Final

from debugnet.errors import TimedOut
from debugnet.inet.config import StackConfig
from debugnet.inet.drops import Drop
from debugnet.wire.arp import FIXED, HRD_ETHERNET, PACKET, ArpOp, ArpPacket
from debugnet.wire.ethernet import BROADCAST_MAC, EthernetFrame, EtherType

log = logging.getLogger(__name__)

_ARP: Final = int(EtherType.ARP)
_IPV4: Final = int(EtherType.IPV4)
_REQUEST: Final = int(ArpOp.REQUEST)
_REPLY: Final = int(ArpOp.REPLY)
_ADDRS: Final = struct.Struct("!6sI6sI")


class ArpState(Enum):
    IDLE = "idle"
    RESOLVING = "resolving"
    RESOLVED = "resolved"
    FAILED = "failed"


class Arp:
    """The resolver and responder of one stack; frames out go to ``outbox``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state = ArpState.IDLE
        self.target: IPv4Address | None = None
        self.next_hop_mac: bytes | None = None
        self.error: TimedOut | None = None
        self.outbox: list[bytes] = []
        self.requests_sent = 0
        self.replies_sent = 0
        self._tries = 0
        self._deadline: float | None = None
        self._warned_conflict = False
        self._client = int(config.client)

    # -- resolution --------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin with the server (the seed's order), whether or not a gateway is set."""
        self.state = ArpState.RESOLVING
        self.target = self.config.server
        self._tries = 0
        self._request(now)

    def next_deadline(self) -> float | None:
        return self._deadline if self.state is ArpState.RESOLVING else None

    def handle_timer(self, now: float) -> None:
        if self.state is not ArpState.RESOLVING or self._deadline is None:
            return
        if now < self._deadline:
            return
        if self._tries < self.config.arp_nretries:
            log.info("(ARP retry for %s)", self.target)
            self._request(now)
            return
        gateway = self.config.gateway
        if self.target == self.config.server and gateway is not None and gateway != self.target:
            log.info("failed to ARP server %s, trying to reach gateway %s", self.target, gateway)
            self.target = gateway
            self._tries = 0
            self._request(now)
            return
        self.state = ArpState.FAILED
        self._deadline = None
        tried = [str(self.config.server)] + ([str(gateway)] if gateway else [])
        self.error = TimedOut(f"ARP timed out: no answer from {' or '.join(dict.fromkeys(tried))}")

    def _request(self, now: float) -> None:
        assert self.target is not None
        self._tries += 1
        self._deadline = now + self.config.arp_wait
        packet = ArpPacket.request(self.config.lladdr, self.config.client, self.target)
        self.outbox.append(
            EthernetFrame(BROADCAST_MAC, self.config.lladdr, _ARP, packet.emit()).emit()
        )
        self.requests_sent += 1

    # -- input -------------------------------------------------------------------

    def input(self, body: bytes | memoryview) -> Drop | None:
        """Handle one ARP payload; the reason when it was dropped, else None."""
        if len(body) < FIXED.size:
            return Drop.ARP_SHORT
        hrd, pro, hln, pln, op = FIXED.unpack_from(body)
        if hrd != HRD_ETHERNET:
            return Drop.ARP_HRD
        if pro != _IPV4:
            return Drop.ARP_PRO
        if hln != 6 or pln != 4:
            return Drop.ARP_LENGTHS
        if len(body) < PACKET.size:
            return Drop.ARP_SHORT
        sha, spa, _tha, tpa = _ADDRS.unpack_from(body, FIXED.size)
        lladdr = self.config.lladdr
        if sha == lladdr:
            return Drop.ARP_FROM_US
        if spa == self._client:
            if not self._warned_conflict:
                self._warned_conflict = True
                log.warning("%s is using my IP address %s!", sha.hex(":"), self.config.client)
            return Drop.ARP_ADDR_IN_USE
        if sha == BROADCAST_MAC:
            return Drop.ARP_FROM_BROADCAST
        if op == _REPLY:
            return self._reply(sha, spa)
        if op != _REQUEST:
            return Drop.ARP_OP
        if tpa != self._client:
            return Drop.ARP_NOT_FOR_US
        self._answer(sha, spa)
        return None

    def _reply(self, sha: bytes, spa: int) -> Drop | None:
        target = self.target
        if self.state is not ArpState.RESOLVING or target is None or spa != int(target):
            return Drop.ARP_UNWANTED_REPLY
        self.next_hop_mac = sha
        self.state = ArpState.RESOLVED
        self._deadline = None
        log.info("got %s MAC address %s", target, sha.hex(":"))
        return None

    def _answer(self, sha: bytes, spa: int) -> None:
        lladdr = self.config.lladdr
        reply = ArpPacket.reply(lladdr, self.config.client, sha, IPv4Address(spa)).emit()
        self.outbox.append(EthernetFrame(sha, lladdr, _ARP, reply).emit())
        self.replies_sent += 1
