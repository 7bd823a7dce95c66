"""What every congestion controller offers the window, as aioquic's ``congestion/base``.

The window owns the RTT estimate and loss detection; a controller only turns
those events into a congestion window. Times are the caller's ``now``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from enum import Enum

from debugnet.transport.config import TransportConfig


class LossVerdict(Enum):
    """What a controller made of one lost packet."""

    IGNORED = "ignored"
    """Sent before the current recovery began, or the algorithm never reacts."""
    RANDOM = "random"
    """Taken as a bad wire, not a full buffer: the window stays."""
    CONGESTION = "congestion"
    """The window was reduced and a recovery period began."""


class CongestionController(ABC):
    """``cwnd`` packets may be in flight; never more than ``config.window``.

    A recovery period starts at each reduction (and at each timeout); packets
    sent before it neither grow the window when acked nor shrink it again
    when lost, so one loss event costs one reduction.
    """

    def __init__(self, config: TransportConfig) -> None:
        self.cap = float(config.window)
        self.min_window = float(config.min_window)
        self.cwnd = float(min(config.initial_window, config.window))
        self.ssthresh = math.inf
        self.recovery_start = -math.inf

    @abstractmethod
    def on_ack(self, sent_time: float) -> None:
        """A packet sent at ``sent_time`` was acked (first transmission or not)."""

    @abstractmethod
    def on_loss(
        self, sent_time: float, now: float, srtt: float | None, min_rtt: float
    ) -> LossVerdict:
        """A packet sent at ``sent_time`` was declared lost at ``now``."""

    @abstractmethod
    def on_timeout(self, now: float, srtt: float | None, min_rtt: float) -> None:
        """Nothing was acked for a whole retransmission timeout."""
