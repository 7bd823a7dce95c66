"""What a driver knows about one received frame besides its bytes.

FreeBSD carries this in the mbuf packet header (``csum_flags``, ``M_VLANTAG``
with ``ether_vtag``); Linux hands it to a packet socket as
``PACKET_AUXDATA`` (``tp_status``, ``tp_vlan_tci``). The input path needs it:
a frame whose checksum the kernel has not filled in yet (veth, local
offload) fails a software check although it is fine, and a VLAN tag the NIC
stripped is invisible in the frame itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag


class RxFlags(IntFlag):
    NONE = 0
    CSUM_VALID = 1
    """The driver or kernel verified the checksums (CSUM_IP_CHECKED|VALID, TP_STATUS_CSUM_VALID)."""
    CSUM_NOT_READY = 2
    """Checksums are not filled in yet (TP_STATUS_CSUMNOTREADY): the sender is local and trusted."""
    VLAN = 4
    """The driver stripped an 802.1Q tag; it is in ``RxInfo.vlan_tci`` (M_VLANTAG)."""
    FCS = 8
    """The frame still ends in its 4-byte frame check sequence."""


@dataclass(frozen=True, slots=True)
class RxInfo:
    flags: int = 0
    """``RxFlags`` bits, kept a plain int: IntFlag arithmetic costs a microsecond per frame."""
    vlan_tci: int = 0


NO_RXINFO = RxInfo()
"""A frame the driver says nothing about: verify everything in software."""

CSUM_TRUSTED = int(RxFlags.CSUM_VALID | RxFlags.CSUM_NOT_READY)
