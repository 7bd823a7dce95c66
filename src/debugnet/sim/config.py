"""Link tunables and counters."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from debugnet.errors import InvalidArgument

_PROBABILITIES = ("loss", "duplicate", "reorder", "corrupt")
_DURATIONS = ("delay", "jitter", "reorder_delay")


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Everything that shapes one direction of a link, in one value.

    ``rate_bps=None`` means infinite bandwidth; otherwise packets are
    serialized one after another (``len * 8 / rate_bps`` seconds each) from a
    FIFO holding at most ``queue_limit`` packets not yet on the wire. Loss
    happens on the wire, so a lost packet still used its serialization time.
    """

    rate_bps: float | None = None
    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.001
    corrupt: float = 0.0
    queue_limit: int | None = None

    def __post_init__(self) -> None:
        for name in _PROBABILITIES:
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise InvalidArgument(f"LinkConfig.{name}={p!r}: not a probability")
        for name in _DURATIONS:
            d = getattr(self, name)
            if not (d >= 0.0 and math.isfinite(d)):
                raise InvalidArgument(f"LinkConfig.{name}={d!r}: not a finite duration >= 0")
        rate = self.rate_bps
        if rate is not None and not (rate > 0.0 and math.isfinite(rate)):
            raise InvalidArgument(f"LinkConfig.rate_bps={rate!r}: must be > 0 or None")
        limit = self.queue_limit
        if limit is not None and limit < 0:
            raise InvalidArgument(f"LinkConfig.queue_limit={limit!r}: must be >= 0 or None")

    @property
    def impaired(self) -> bool:
        """Whether any per-packet random draw is needed."""
        return bool(self.loss or self.duplicate or self.reorder or self.corrupt or self.jitter)


@dataclass(slots=True)
class LinkStats:
    """Counters of one link; every packet copy ends in exactly one of them.

    ``sent + duplicated == delivered + lost + dropped_queue + dropped_cut +
    in_flight`` holds at all times (``in_flight`` is on the link).
    ``reordered`` and ``corrupted`` count packets that were also delivered or
    dropped later, so they are not part of that sum.
    """

    sent: int = 0
    delivered: int = 0
    bytes_delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    dropped_queue: int = 0
    dropped_cut: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
