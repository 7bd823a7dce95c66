"""Every tunable of the client transport in one value.

The kernel's own sysctls (``npolls``, ``nretries``, ``arp_nretries``,
``debug``) keep their names and defaults; the rest shapes the sliding window,
which the kernel does not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from debugnet.errors import InvalidArgument
from debugnet.wire.constants import max_payload


class Mode(Enum):
    """Which send algorithm a connection runs."""

    WINDOW = "window"
    SEED = "seed"


class CongestionControl(Enum):
    """How the window reacts to loss.

    ``HYBRID`` halves on loss only when the RTT shows a standing queue (the loss
    was congestion); a loss without a queue is taken as random and costs no
    window. ``RENO`` halves on every loss event. ``FIXED`` never changes the
    window: it exists to show, in the benchmark, why the others are needed.
    """

    HYBRID = "hybrid"
    RENO = "reno"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class TransportConfig:
    npolls: int = 2000
    """Seed mode: polls (``poll_interval`` apart) before retransmitting the unacked."""
    nretries: int = 10
    """Seed mode: retransmission rounds before ETIMEDOUT."""
    arp_nretries: int = 3
    """ARP requests per next hop (used by the raw-Ethernet stack)."""
    debug: int = 0
    """0 off, 1 on, 2 verbose, as the kernel's net.debugnet.debug."""
    mode: Mode = Mode.WINDOW
    window: int = 256
    """Cap on packets in flight in window mode."""
    poll_interval: float = 0.0005
    mtu: int = 1500
    rto_initial: float = 0.1
    """Retransmission timeout before the first RTT sample."""
    rto_min: float = 0.01
    rto_max: float = 1.0
    budget: float | None = None
    """Window mode: seconds without any new ack before ETIMEDOUT; None = the seed's total."""
    initial_window: int = 16
    min_window: int = 2
    cc: CongestionControl = CongestionControl.HYBRID
    queue_threshold: float = 8.0
    """HYBRID: estimated packets queued in the path above which a loss counts as congestion."""
    reorder_threshold: int = 3
    """A packet is lost once this many packets sent after it were acked."""

    def __post_init__(self) -> None:
        for name in ("npolls", "nretries", "arp_nretries", "debug"):
            if getattr(self, name) < 0:
                raise InvalidArgument(f"TransportConfig.{name} must be >= 0")
        if self.window < 1 or self.min_window < 1 or self.initial_window < 1:
            raise InvalidArgument("TransportConfig: windows must hold at least one packet")
        if self.reorder_threshold < 1:
            raise InvalidArgument("TransportConfig.reorder_threshold must be >= 1")
        if max_payload(self.mtu) < 1:
            raise InvalidArgument(f"TransportConfig.mtu={self.mtu}: leaves no room for data")
        for name in ("poll_interval", "rto_initial", "rto_min", "rto_max"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise InvalidArgument(f"TransportConfig.{name}={value!r}: must be > 0")
        if self.rto_min > self.rto_max:
            raise InvalidArgument("TransportConfig: rto_min above rto_max")
        if self.budget is not None and not self.budget > 0:
            raise InvalidArgument(f"TransportConfig.budget={self.budget!r}: must be > 0")
        if isinstance(self.mode, str):  # accept "window"/"seed" from callers
            object.__setattr__(self, "mode", Mode(self.mode))
        if isinstance(self.cc, str):
            object.__setattr__(self, "cc", CongestionControl(self.cc))

    @property
    def payload_size(self) -> int:
        """Data bytes per packet at this MTU (1448 at 1500)."""
        return max_payload(self.mtu)

    @property
    def seed_round(self) -> float:
        """Seconds the seed waits for acks before a retransmission round."""
        return (self.npolls + 1) * self.poll_interval

    @property
    def give_up_after(self) -> float:
        """Window mode's budget; by default what the seed allows a message in total."""
        if self.budget is not None:
            return self.budget
        return (self.nretries + 2) * self.seed_round
