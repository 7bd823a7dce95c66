"""Which class runs which ``CongestionControl`` setting."""

from __future__ import annotations

from debugnet.transport.config import CongestionControl, TransportConfig
from debugnet.transport.congestion.base import CongestionController
from debugnet.transport.congestion.fixed import Fixed
from debugnet.transport.congestion.hybrid import Hybrid
from debugnet.transport.congestion.reno import Reno

REGISTRY: dict[CongestionControl, type[CongestionController]] = {
    CongestionControl.HYBRID: Hybrid,
    CongestionControl.RENO: Reno,
    CongestionControl.FIXED: Fixed,
}


def create(config: TransportConfig) -> CongestionController:
    """A fresh controller of the algorithm ``config.cc`` names."""
    return REGISTRY[config.cc](config)
