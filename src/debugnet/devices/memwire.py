"""Interfaces joined by simulated links, in virtual time.

A ``MemWire`` is a shared segment: a frame sent by one port travels to every
other port over its own one-way ``sim.Link`` (rate, delay, jitter, loss,
duplication, reordering, corruption, queue limit), and each receiving port
filters it like an Ethernet NIC. Two ports make a cable; more make a hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from debugnet.ifnet import (
    DebugnetMethods,
    IfFlags,
    Ifnet,
    IfOps,
    IfTable,
    IfType,
    LinkState,
)
from debugnet.ifnet.ioctl import set_flags
from debugnet.sim import Link, LinkConfig, Simulator, derive_seeds

from .ring import RxRing, accepts, cluster_size

DEFAULT_RING = 256


@dataclass(eq=False)
class WirePort:
    """The driver state (softc) of one interface on the wire."""

    ifp: Ifnet
    ring: RxRing
    links: list[Link] = field(default_factory=list)
    incoming: list[Link] = field(default_factory=list)
    carrier: bool = True

    def deliver(self, frame: bytes) -> None:
        ifp = self.ifp
        if not self.carrier or not ifp.is_up_and_running or not accepts(ifp, frame):
            return
        self.ring.receive(ifp, frame)


class MemWire:
    """A segment in a ``Simulator``; ``attach`` plugs a new interface into it."""

    def __init__(
        self, sim: Simulator, config: LinkConfig | None = None, *, seed: int = 0, name: str = "wire"
    ) -> None:
        self.sim = sim
        self.config = config or LinkConfig()
        self.name = name
        self.ports: list[WirePort] = []
        self._seed = seed
        self._nlinks = 0

    def _connect(self, src: WirePort, dst: WirePort) -> None:
        self._nlinks += 1
        seed = derive_seeds(self._seed * 1_000_003 + self._nlinks, 1)[0]
        link = Link(
            self.sim,
            self.config,
            dst.deliver,
            seed=seed,
            name=f"{self.name}:{src.ifp.name}->{dst.ifp.name}",
        )
        src.links.append(link)
        dst.incoming.append(link)

    def attach(
        self,
        table: IfTable,
        name: str,
        mac: bytes,
        *,
        mtu: int = 1500,
        max_mtu: int = 9000,
        ring: int = DEFAULT_RING,
        up: bool = True,
    ) -> Ifnet:
        """A new Ethernet interface on this wire, attached to ``table``.

        With ``up`` it is configured up and running and its link reported UP
        (queued: run ``table.drain_link_states()`` to deliver it).
        """
        port = WirePort(ifp=None, ring=RxRing(ring))  # type: ignore[arg-type]
        ifp = Ifnet(
            name,
            self._ops(port),
            if_type=IfType.ETHER,
            lladdr=mac,
            mtu=mtu,
            max_mtu=max_mtu,
            flags=IfFlags.BROADCAST | IfFlags.SIMPLEX | IfFlags.MULTICAST,
            softc=port,
        )
        port.ifp = ifp
        for other in self.ports:
            self._connect(port, other)
            self._connect(other, port)
        self.ports.append(port)
        table.attach(ifp)
        if up:
            set_flags(ifp, ifp.flags | IfFlags.UP, self.sim.now)
            ifp.link_state_change(LinkState.UP)
        return ifp

    def _ops(self, port: WirePort) -> IfOps:
        def output(ifp: Ifnet, frame: bytes) -> None:
            for link in port.links:
                link.send(frame)

        def dn_init(ifp: Ifnet) -> tuple[int, int, int]:
            return 1, port.ring.size, cluster_size(ifp.mtu)

        return IfOps(
            output=output,
            debugnet=DebugnetMethods(
                init=dn_init, event=port.ring.event, transmit=output, poll=port.ring.poll
            ),
        )

    def set_carrier(self, ifp: Ifnet, up: bool) -> None:
        """Unplug or replug ``ifp``'s cable: frames stop both ways, link state follows."""
        port: WirePort = ifp.softc
        port.carrier = up
        for link in port.links + port.incoming:
            (link.restore if up else link.cut)()
        ifp.link_state_change(LinkState.UP if up else LinkState.DOWN)


def wire_pair(
    sim: Simulator,
    table: IfTable,
    config: LinkConfig | None = None,
    *,
    seed: int = 0,
    names: tuple[str, str] = ("wire0", "wire1"),
) -> tuple[Ifnet, Ifnet, MemWire]:
    """Two interfaces on one cable, with MACs 02:00:00:00:00:01 and :02."""
    wire = MemWire(sim, config, seed=seed)
    a = wire.attach(table, names[0], bytes.fromhex("020000000001"))
    b = wire.attach(table, names[1], bytes.fromhex("020000000002"))
    return a, b, wire
