"""A window that never moves: the benchmark's demonstration of why the others exist."""

from __future__ import annotations

from debugnet.transport.congestion.base import CongestionController, LossVerdict


class Fixed(CongestionController):
    """``cwnd`` stays at ``initial_window`` whatever happens."""

    def on_ack(self, sent_time: float) -> None:
        pass

    def on_loss(
        self, sent_time: float, now: float, srtt: float | None, min_rtt: float
    ) -> LossVerdict:
        return LossVerdict.IGNORED

    def on_timeout(self, now: float, srtt: float | None, min_rtt: float) -> None:
        self.recovery_start = now
