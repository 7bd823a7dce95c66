"""The loopback interface: every frame sent is received at once (if_simloop)."""

from __future__ import annotations

from debugnet.ifnet import IfCloner, IfFlags, Ifnet, IfOps, IfTable, IfType, LinkState
from debugnet.ifnet.ioctl import set_flags

LOMTU = 33184


def _output(ifp: Ifnet, frame: bytes) -> None:
    ifp.input(frame)


LOOPBACK_OPS = IfOps(output=_output)


def create(table: IfTable, unit: int = 0, *, now: float = 0.0) -> Ifnet:
    """``lo<unit>``, attached, up, link UP queued; frames carry an all-zero Ethernet header."""
    ifp = Ifnet(
        f"lo{unit}",
        LOOPBACK_OPS,
        if_type=IfType.LOOP,
        lladdr=b"",
        mtu=LOMTU,
        max_mtu=65535,
        flags=IfFlags.LOOPBACK | IfFlags.MULTICAST,
    )
    table.attach(ifp)
    set_flags(ifp, ifp.flags | IfFlags.UP, now)
    ifp.link_state_change(LinkState.UP)
    return ifp


def _destroy(table: IfTable, ifp: Ifnet) -> None:
    table.detach(ifp)


def cloner() -> IfCloner[IfTable]:
    """The ``lo`` cloner; ``lo0`` can be destroyed like any other (as NetBSD allows)."""
    return IfCloner("lo", lambda table, unit: create(table, unit), _destroy)
