"""A DumpStore in memory, for driving the recorder without a disk.

Keeps what the directory backend would write (vmcore bytes, info text, key
pieces, the name, durability) so tests can compare the two backends and the
simulator can record dumps in virtual time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from debugnet.storage.interface import (
    BelowFloor,
    Chunk,
    DumpLimitReached,
    DumpRequest,
    StorageError,
)
from debugnet.storage.naming import vmcore_name


@dataclass
class MemorySink:
    """One dump's files as bytes; ``fail_at`` makes writes at or past that offset fail."""

    host: str
    index: int
    data: bytearray = field(default_factory=bytearray)
    info_text: bytearray = field(default_factory=bytearray)
    key: bytearray = field(default_factory=bytearray)
    key_pieces: list[bytes] = field(default_factory=list)
    encrypted: bool = False
    compression: str = "none"
    synced: int = 0
    published: bool = False
    closed: bool = False
    fail_at: int | None = None

    @property
    def info_path(self) -> Path:
        return Path(f"info.{self.host}.{self.index}")

    @property
    def core_path(self) -> Path:
        name = vmcore_name(
            self.host, self.index, encrypted=self.encrypted, compression=self.compression
        )
        return Path(name)

    def write_at(self, offset: int, pieces: Sequence[Chunk], length: int) -> None:
        if self.fail_at is not None and offset + length > self.fail_at:
            raise StorageError(max(offset, self.fail_at), OSError(28, "No space left on device"))
        blob = b"".join(bytes(p) for p in pieces)
        assert len(blob) == length
        _put(self.data, offset, blob)

    def write_key(self, offset: int, data: bytes) -> None:
        self.key_pieces.append(data)
        _put(self.key, offset, data)

    def info(self, line: bytes) -> None:
        self.info_text += line

    def set_format(self, *, encrypted: bool, compression: str) -> None:
        self.encrypted, self.compression = encrypted, compression

    def sync(self, truncate_to: int | None = None) -> None:
        if truncate_to is not None:
            del self.data[truncate_to:]
            self.data.extend(bytes(truncate_to - len(self.data)))
        self.synced += 1

    def publish(self) -> None:
        self.published = True

    def allocated(self) -> int:
        return len(self.data)  # a bytearray is never sparse

    def close(self) -> None:
        self.closed = True


def _put(buf: bytearray, offset: int, data: bytes) -> None:
    end = offset + len(data)
    if end > len(buf):
        buf.extend(bytes(end - len(buf)))
    buf[offset:end] = data


@dataclass
class MemoryStore:
    """Every dump created, in order; ``limit`` dumps per host as the directory has."""

    limit: int = 1024
    free: int = 1 << 40
    floor: int = 0
    sinks: list[MemorySink] = field(default_factory=list)

    def create(self, request: DumpRequest) -> MemorySink:
        index = sum(1 for s in self.sinks if s.host == request.host)
        if index >= self.limit:
            raise DumpLimitReached(f"all {self.limit} dump indexes for {request.host} are taken")
        sink = MemorySink(request.host, index)
        self.sinks.append(sink)
        return sink

    def check(self, request: DumpRequest) -> None:
        if self.room(request) <= 0:
            raise BelowFloor(f"{self.free} bytes free, below the floor of {self.floor}")
        if sum(1 for s in self.sinks if s.host == request.host) >= self.limit:
            raise DumpLimitReached(f"all {self.limit} dump indexes for {request.host} are taken")

    def free_bytes(self, request: DumpRequest | None = None) -> int:
        return self.free

    def room(self, request: DumpRequest | None = None) -> int:
        return self.free - self.floor
