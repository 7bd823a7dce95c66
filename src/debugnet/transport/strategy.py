"""The interface both send algorithms implement, and what they share.

A strategy sees packets as numbered datagrams grouped into messages. It
decides when each goes out and when it counts as acked; the connection owns
seqnos, ports, states and events.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields

from debugnet.errors import ErrnoError
from debugnet.transport.config import TransportConfig


@dataclass(slots=True, eq=False)
class OutMessage:
    """One ``send`` call, already cut into emitted datagrams with consecutive seqnos."""

    ident: int
    type: int
    first_seqno: int
    packets: list[bytes]
    barrier: bool = False
    """Start only when everything before is acked, and let nothing after start until acked."""
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = len(self.packets)

    @property
    def end_seqno(self) -> int:
        return self.first_seqno + len(self.packets)


@dataclass(slots=True)
class TransportStats:
    """Counters a progress display or a test reads; never used for decisions."""

    packets_sent: int = 0
    retransmissions: int = 0
    acks: int = 0
    acks_stale: int = 0
    acks_future: int = 0
    losses: int = 0
    random_losses: int = 0
    timeouts: int = 0
    bytes_acked: int = 0
    dropped_bad: int = 0
    rx_accepted: int = 0
    rx_refused: int = 0
    rx_duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def log_level(config: TransportConfig) -> int:
    """The level of the transport's progress lines: ``debug`` (net.debugnet.debug)
    raises them to INFO so they show without touching any logger's level."""
    return logging.INFO if config.debug else logging.DEBUG


class SendStrategy(ABC):
    """Decides transmissions and retransmissions; pure, ``now`` on every call.

    ``done`` collects messages fully acked (appended in completion order);
    ``failure`` is set once the strategy gives up, after which it sends nothing.
    Every strategy is built the same way, so the connection picks one by mode.
    """

    def __init__(
        self, config: TransportConfig, stats: TransportStats, done: list[OutMessage]
    ) -> None:
        self.config = config
        self.log_level = log_level(config)
        self.stats = stats
        self.done = done
        self.failure: ErrnoError | None = None

    @abstractmethod
    def submit(self, msg: OutMessage) -> None:
        """Queue a message; nothing is sent until ``transmit``."""

    @abstractmethod
    def on_ack(self, seqno: int, now: float) -> None:
        """An ack for ``seqno`` arrived."""

    @abstractmethod
    def transmit(self, now: float) -> list[bytes]:
        """Datagrams to put on the wire now, first transmissions and retransmissions."""

    @abstractmethod
    def next_deadline(self) -> float | None: ...

    @abstractmethod
    def handle_timer(self, now: float) -> None: ...

    @property
    @abstractmethod
    def outstanding(self) -> int:
        """Packets submitted and not yet acked."""

    @abstractmethod
    def abort(self) -> None:
        """Stop all work: the connection failed for a reason of its own."""
