"""Slow start, additive increase, halving on every loss event (RFC 5681's shape)."""

from __future__ import annotations

from debugnet.transport.congestion.base import CongestionController, LossVerdict


class Reno(CongestionController):
    """One packet per ack below ``ssthresh``, one per window above it."""

    def on_ack(self, sent_time: float) -> None:
        # The hot path: one call per acked packet.
        if sent_time > self.recovery_start:
            cwnd = self.cwnd
            cwnd += 1.0 if cwnd < self.ssthresh else 1.0 / cwnd
            self.cwnd = cwnd if cwnd < self.cap else self.cap

    def on_loss(
        self, sent_time: float, now: float, srtt: float | None, min_rtt: float
    ) -> LossVerdict:
        if sent_time <= self.recovery_start:
            return LossVerdict.IGNORED
        target = self.loss_target(srtt, min_rtt)
        if target is None:
            return LossVerdict.RANDOM
        self.cwnd = self.ssthresh = max(target, self.min_window)
        self.recovery_start = now
        return LossVerdict.CONGESTION

    def loss_target(self, srtt: float | None, min_rtt: float) -> float | None:
        """The window after a loss event; None when the loss is not congestion."""
        return self.cwnd * 0.5

    def on_timeout(self, now: float, srtt: float | None, min_rtt: float) -> None:
        self.recovery_start = now
        if srtt is not None:  # before any sample (the herald) nothing is known
            kept = self.cwnd if self.keeps_capacity(srtt, min_rtt) else self.cwnd * 0.5
            self.ssthresh = max(kept, self.min_window)
        self.cwnd = self.min_window

    def keeps_capacity(self, srtt: float, min_rtt: float) -> bool:
        """Whether slow start may climb straight back to the window a timeout cut."""
        return False
