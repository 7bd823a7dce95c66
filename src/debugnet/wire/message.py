"""The debugnet message header (24 bytes) and ack (4 bytes).

A UDP payload of exactly four bytes is an ack; anything else is a message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from debugnet.errors import WireError
from debugnet.wire.octets import octets

HEADER = struct.Struct("!IIQII")
ACK = struct.Struct("!I")


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
            raise WireError("message.length", len(data), "shorter than the 24-byte header")
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
        header = MessageHeader.parse(data)
        present = len(data) - MessageHeader.SIZE
        if header.length != present:
            raise WireError("message.mh_len", header.length, f"but {present} data bytes follow")
        return cls(header, bytes(data[MessageHeader.SIZE :]))

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
