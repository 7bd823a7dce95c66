"""A retransmission timeout from RTT samples (RFC 6298), with Karn's backoff.

Pure: the caller measures round trips (only of packets sent once) and says
when a timeout fired.
"""

from __future__ import annotations


class RtoEstimator:
    """SRTT and RTTVAR as RFC 6298 keeps them; ``rto`` clamped to [rto_min, rto_max]."""

    def __init__(self, initial: float, rto_min: float, rto_max: float) -> None:
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._rto = min(max(initial, rto_min), rto_max)

    @property
    def rto(self) -> float:
        return self._rto

    def sample(self, rtt: float) -> None:
        """A round trip of a packet that was sent exactly once."""
        rtt = max(rtt, 0.0)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self._rto = min(max(self.srtt + 4 * self.rttvar, self.rto_min), self.rto_max)

    def backoff(self) -> None:
        """A timeout fired: double the timeout until the next clean sample."""
        self._rto = min(self._rto * 2, self.rto_max)
