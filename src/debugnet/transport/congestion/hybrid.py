"""Reno's growth, with the decrease read from the queue the RTT shows.

``cwnd * (1 - min_rtt / srtt)`` packets wait in the path. A loss with such a
queue is congestion and the window drops to what the path holds without it
(at most half); a loss without one is a bad wire, not a full buffer, and costs
nothing -- which keeps the rate up at 1 % random loss where halving would not.
"""

from __future__ import annotations

from debugnet.transport.config import TransportConfig
from debugnet.transport.congestion.reno import Reno


class Hybrid(Reno):
    def __init__(self, config: TransportConfig) -> None:
        super().__init__(config)
        self.queue_threshold = config.queue_threshold

    def queued(self, srtt: float | None, min_rtt: float) -> float:
        """Packets the RTT says are waiting in the path."""
        if srtt is None or srtt <= 0:
            return 0.0
        return self.cwnd * max(1.0 - min_rtt / srtt, 0.0)

    def loss_target(self, srtt: float | None, min_rtt: float) -> float | None:
        if srtt is None or srtt <= 0:
            return self.cwnd * 0.5
        if self.queued(srtt, min_rtt) < self.queue_threshold:
            return None
        ratio = min(min_rtt / srtt, 1.0)
        return max(self.cwnd * 0.5, self.cwnd * ratio + self.queue_threshold)

    def keeps_capacity(self, srtt: float, min_rtt: float) -> bool:
        # A timeout without a queue behind it (a lost tail packet, a cut link)
        # says nothing about capacity.
        return self.queued(srtt, min_rtt) < self.queue_threshold
