"""Every tunable of the server-side duplex session in one value."""

from __future__ import annotations

import math
from dataclasses import dataclass

from debugnet.errors import InvalidArgument
from debugnet.wire.constants import max_payload


@dataclass(frozen=True, slots=True)
class DuplexConfig:
    mtu: int = 1500
    """Sizes the messages the shell may hand to ``send`` (see ``payload_size``)."""
    rto_initial: float = 1.0
    """Retransmission timeout before the first RTT sample.

    Generous on purpose (RFC 6298's one-second floor): a needless resend of a
    message the kernel already accepted is appended twice (PROTOCOL.md section
    10), so erring late costs a second per lost message and erring early
    corrupts the stream. A kernel's ack can be late by a scheduling hiccup of
    the host that plays it, never only by the network's round trip.
    """
    rto_min: float = 1.0
    rto_max: float = 4.0
    send_budget: float = 300.0
    """Seconds one message may stay unacked before the session fails.

    A kernel withholds acks while its receive buffer is full: that is
    backpressure, so the budget is minutes, not the client's seconds.
    """
    timeout: float | None = None
    """Seconds of silence from the peer that end the session; None = never."""
    reorder_window: int = 256
    """Messages past the next expected one kept (and acked) to be delivered in order."""
    finish_repeats: int = 3
    """Our FINISHED is never acked (the kernel does not), so it is sent this many times."""
    finish_interval: float = 0.05
    linger: float = 5.0
    """After the peer's FINISHED, keep acking its retransmissions this long."""

    def __post_init__(self) -> None:
        if max_payload(self.mtu) < 1:
            raise InvalidArgument(f"DuplexConfig.mtu={self.mtu}: leaves no room for data")
        for name in ("rto_initial", "rto_min", "rto_max", "send_budget", "finish_interval"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise InvalidArgument(f"DuplexConfig.{name}={value!r}: must be > 0")
        if self.rto_min > self.rto_max:
            raise InvalidArgument("DuplexConfig: rto_min above rto_max")
        if self.timeout is not None and not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise InvalidArgument(f"DuplexConfig.timeout={self.timeout!r}: must be > 0")
        if self.reorder_window < 1 or self.finish_repeats < 1:
            raise InvalidArgument("DuplexConfig: reorder_window and finish_repeats must be >= 1")
        if not self.linger >= 0:
            raise InvalidArgument(f"DuplexConfig.linger={self.linger!r}: must be >= 0")

    @property
    def payload_size(self) -> int:
        """Data bytes per message at this MTU (1448 at 1500)."""
        return max_payload(self.mtu)
