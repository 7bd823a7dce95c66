"""Congestion control for the window strategy: one class per algorithm.

``create(config)`` picks the class ``config.cc`` names from ``REGISTRY``; the
window calls ``on_ack``, ``on_loss`` and ``on_timeout`` and reads ``cwnd``.
"""

from debugnet.transport.congestion.base import CongestionController, LossVerdict
from debugnet.transport.congestion.registry import REGISTRY, create

__all__ = ["REGISTRY", "CongestionController", "LossVerdict", "create"]
