"""What a server session tells its I/O shell, one small frozen value per happening.

The shell acts on these (write at an offset, record a header, make the dump
durable) and reports back through the session's commands.
"""

from __future__ import annotations

from dataclasses import dataclass


class ServerEvent:
    """Base of the events a ServerSession produces."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class DataReceived(ServerEvent):
    """Dump data for ``offset``.

    ``data`` may be a view into the shell's receive buffer: consume it before
    handing the session the next datagram.
    """

    offset: int
    data: bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class DataRunReceived(ServerEvent):
    """Contiguous dump data from several datagrams of one batch, starting at ``offset``.

    The batch form of DataReceived: one event per run instead of per packet,
    and the pieces are views into the receive slots, so storage can write them
    with one ``pwritev`` and no copy. Valid until the next batch is received.
    """

    offset: int
    pieces: tuple[bytes | bytearray | memoryview, ...]
    length: int


@dataclass(frozen=True, slots=True)
class KdhReceived(ServerEvent):
    """The kerneldumpheader message, raw: netdumpd acks it first, then checks its size."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class KeyReceived(ServerEvent):
    """A piece of the encryption key record, to be stored at ``offset`` of the key file.

    A key record can take more than one packet (an RSA-16384 key, or a small MTU).
    """

    data: bytes
    offset: int = 0


@dataclass(frozen=True, slots=True)
class FinishRequested(ServerEvent):
    """The client said FINISHED; ack it only after ``confirm_finished``."""


@dataclass(frozen=True, slots=True)
class SessionTimedOut(ServerEvent):
    """The client was silent for longer than the configured timeout."""

    idle: float


@dataclass(frozen=True, slots=True)
class SessionEnded(ServerEvent):
    """The linger after a completed dump is over; the shell may close the socket."""
