"""What a session worker is given: the server's shared parts and a callback, no listener.

A worker built from a ``SessionContext`` and an ``on_done`` callback needs no
``Server``: tests build one directly, and the listener imports the worker,
never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from debugnet.server.config import ServerConfig
from debugnet.server.handler import HandlerRunner
from debugnet.server.monitor import Monitor
from debugnet.server.resolver import Resolver
from debugnet.storage.interface import DumpStore


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What every session of one server shares: all a worker needs besides its client."""

    config: ServerConfig
    resolver: Resolver
    handlers: HandlerRunner
    store: DumpStore
    monitor: Monitor = field(default_factory=Monitor)
    """Counts, dumps arriving and dumps ended, for metrics, the dashboard and alerts."""
