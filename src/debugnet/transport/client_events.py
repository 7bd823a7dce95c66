"""What a client connection tells its shell, one small frozen value per happening."""

from __future__ import annotations

from dataclasses import dataclass

from debugnet.errors import ErrnoError


class ClientEvent:
    """Base of the events a ClientConnection produces."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HeraldAcked(ClientEvent):
    """The first ack arrived; every later message goes to ``server_port``."""

    server_port: int


@dataclass(frozen=True, slots=True)
class MessageAcked(ClientEvent):
    """Every packet of the message ``message_id`` (as returned by ``send``) was acked."""

    message_id: int
    type: int


@dataclass(frozen=True, slots=True)
class RemoteClosed(ClientEvent):
    """The peer sent FINISHED: the connection is REMOTE_CLOSED, sends fail with ECONNRESET."""


@dataclass(frozen=True, slots=True)
class ConnectionFailed(ClientEvent):
    """Unacked messages can no longer be delivered (ETIMEDOUT or ECONNRESET)."""

    error: ErrnoError
