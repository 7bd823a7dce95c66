"""Discrete-event network simulator: virtual time, seeded impaired links.

Standard library only, no I/O, no wall clock and no global random, so a run is
a pure function of its inputs and seeds.
"""

from debugnet.sim.config import LinkConfig, LinkStats
from debugnet.sim.link import Deliver, Link, derive_seeds, duplex, flip_bit
from debugnet.sim.scheduler import Simulator, Timer
from debugnet.sim.trace import TraceHook, TraceKind, TraceRecord, TraceRecorder

__all__ = [
    "Deliver",
    "Link",
    "LinkConfig",
    "LinkStats",
    "Simulator",
    "Timer",
    "TraceHook",
    "TraceKind",
    "TraceRecord",
    "TraceRecorder",
    "derive_seeds",
    "duplex",
    "flip_bit",
]
