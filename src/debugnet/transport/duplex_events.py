"""What a server-side duplex session tells its shell, one frozen value per happening."""

from __future__ import annotations

from dataclasses import dataclass


class DuplexEvent:
    """Base of the events a DuplexSession produces."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class StreamData(DuplexEvent):
    """The peer's next message data, delivered once and in seqno order."""

    data: bytes
    aux2: int
    offset: int


@dataclass(frozen=True, slots=True)
class PeerFinished(DuplexEvent):
    """The peer sent FINISHED (after all its data); it was acked."""


@dataclass(frozen=True, slots=True)
class PeerSilent(DuplexEvent):
    """Nothing came from the peer for ``idle`` seconds (the configured timeout)."""

    idle: float


@dataclass(frozen=True, slots=True)
class SendFailed(DuplexEvent):
    """A message stayed unacked for the whole give-up budget."""

    seqno: int
    waited: float


@dataclass(frozen=True, slots=True)
class SessionClosed(DuplexEvent):
    """Nothing more will be sent or accepted: the shell may close the socket."""
