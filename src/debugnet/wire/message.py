"""The debugnet message header (24 bytes) and ack (4 bytes), and the herald.

A UDP payload of exactly four bytes is an ack; anything else is a message.
The header length rule is written once, in ``unpack_message``: every parser
of messages (``Message.parse``, the frame fast path, the client connection,
the server session, ``parse_herald``) goes through it; only the server
session's batch loop repeats its DATA case inline, and sends anything that
fails it through ``unpack_message`` to be counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import ClassVar, Self

from debugnet.errors import WireError
from debugnet.wire.constants import HERALD_PATH_MAX
from debugnet.wire.octets import octets

HEADER = struct.Struct("!IIQII")
ACK = struct.Struct("!I")
HEADER_SIZE = HEADER.size
_unpack = HEADER.unpack_from


class MessageReject(StrEnum):
    """Why bytes are not a message; drop counters count by member."""

    RUNT = "shorter than the 24-byte header"
    LENGTH_MISMATCH = "mh_len does not match the data present"
    LENGTH_LONG = "mh_len larger than the data present"


def unpack_message(
    data: bytes | bytearray | memoryview,
    start: int = 0,
    end: int | None = None,
    *,
    exact: bool = True,
) -> tuple[int, int, int, int, int]:
    """The fields ``(type, seqno, offset, length, aux2)`` of the message in ``data[start:end]``.

    The length rule, once for every parser: at least 24 bytes, and ``mh_len``
    equal to the bytes after the header (netdumpd's rule, and ours when we
    parse). ``exact=False`` is the FreeBSD kernel's looser rule on the
    client's receive path (debugnet_handle_rx_msg accepts ``mh_len`` up to
    the bytes present and ignores the rest). Raises ``WireError`` whose
    ``reason`` is a ``MessageReject``; ``data`` is not copied.
    """
    size = (len(data) if end is None else end) - start
    if size < HEADER_SIZE:
        raise WireError("message.length", size, MessageReject.RUNT)
    fields: tuple[int, int, int, int, int] = _unpack(data, start)
    length = fields[3]
    present = size - HEADER_SIZE
    if length != present and (exact or length > present):
        reason = MessageReject.LENGTH_MISMATCH if exact else MessageReject.LENGTH_LONG
        raise WireError("message.mh_len", length, reason)
    return fields


class MsgType(IntEnum):
    HERALD = 1
    FINISHED = 2
    DATA = 3
    KDH = 4
    EKCD_KEY = 5

    VMCORE = 3  # netdump's name for DATA


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """The header preceding every message's data."""

    SIZE: ClassVar[int] = 24

    type: int
    seqno: int
    offset: int
    length: int
    aux2: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        data = octets(data)
        if len(data) < cls.SIZE:
            raise WireError("message.length", len(data), MessageReject.RUNT)
        return cls(*HEADER.unpack_from(data))

    def emit(self) -> bytes:
        try:
            return HEADER.pack(self.type, self.seqno, self.offset, self.length, self.aux2)
        except struct.error as exc:
            raise WireError("message", self, f"field out of range: {exc}") from None


@dataclass(frozen=True, slots=True)
class Message:
    """A header with its data, checked for a length that matches."""

    header: MessageHeader
    data: bytes

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        data = octets(data)
        header = MessageHeader(*unpack_message(data))
        return cls(header, bytes(data[HEADER_SIZE:]))

    @classmethod
    def build(
        cls, type: int, seqno: int, data: bytes = b"", offset: int = 0, aux2: int = 0
    ) -> Self:
        return cls(MessageHeader(type, seqno, offset, len(data), aux2), bytes(data))

    def emit(self) -> bytes:
        if self.header.length != len(self.data):
            raise WireError("message.mh_len", self.header.length, f"data is {len(self.data)} bytes")
        return self.header.emit() + self.data


@dataclass(frozen=True, slots=True)
class Ack:
    SIZE: ClassVar[int] = 4

    seqno: int

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        data = octets(data)
        if len(data) != cls.SIZE:
            raise WireError("ack.length", len(data), "an ack is exactly 4 bytes")
        return cls(ACK.unpack_from(data)[0])

    def emit(self) -> bytes:
        try:
            return ACK.pack(self.seqno)
        except struct.error:
            raise WireError("ack.seqno", self.seqno, "not a 32-bit unsigned value") from None


def is_ack(payload: bytes | bytearray | memoryview) -> bool:
    return len(payload) == Ack.SIZE


@dataclass(frozen=True, slots=True)
class Herald:
    """A valid HERALD: its seqno and the path the client asked for, if usable."""

    seqno: int
    aux2: int = 0
    path: str | None = None


def parse_herald(payload: bytes | bytearray | memoryview) -> Herald:
    """Accept a herald as netdumpd does: type HERALD and a length that matches.

    The path is kept only when 0 < length <= 1024 and the data ends in NUL;
    otherwise the herald is still valid and the default path applies.
    """
    mtype, seqno, _offset, _length, aux2 = unpack_message(payload)
    if mtype != MsgType.HERALD:
        raise WireError("herald.mh_type", mtype, "not a HERALD")
    path: str | None = None
    raw = bytes(payload[HEADER_SIZE:])
    if 0 < len(raw) <= HERALD_PATH_MAX and raw[-1] == 0:
        path = raw[: raw.index(0)].decode("utf-8", "surrogateescape")
    return Herald(seqno, aux2, path)
