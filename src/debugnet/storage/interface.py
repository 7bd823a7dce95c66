"""What the dump recorder needs of storage: one small interface, several backends.

The recorder (server/recorder.py) decides *what* a dump's files say; a backend
decides *where* they live. ``DumpStore`` is the backend for a whole server
(today the dump directory, storage/directory.py's ``DirectoryStore``); it hands
out one ``DumpSink`` per dump. Everything the recorder does to a dump goes
through the sink, so another backend plugs in without touching the recorder:

- a backend that creates files lazily keeps ``create`` cheap and opens its
  files at the first ``write_at``/``write_key``/``info``;
- an object store rewrites the info object whole on ``sync``/``close``
  (``info`` only appends to a buffer), uploads data in parts from
  ``write_at``, completes the upload in ``sync`` and aborts it in ``close``
  when ``sync`` never succeeded, and sweeps its leftovers when it starts;
- retention and a catalogue hook in at ``create`` (before a new index is
  taken) and ``publish`` (once a dump is complete).

Errors: a failed data, key or sync operation raises ``StorageError`` carrying
the offset that failed (the info file reports it); ``create`` logs and raises
``DumpLimitReached`` or ``OSError``. ``info`` and ``publish`` never raise: a
dump whose metadata cannot be written still keeps its data.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from debugnet.errors import DebugnetError

Chunk = bytes | bytearray | memoryview
"""A piece of dump data: often a view into a receive slot, valid until the next batch."""


class StorageError(DebugnetError):
    """A write, flush or sync of dump data failed."""

    @classmethod
    def out_of_range(cls, offset: int) -> StorageError:
        """An offset no file can have (a client sent 2**63 or more)."""
        return cls(offset, OSError(errno.EFBIG, os.strerror(errno.EFBIG)))

    def __init__(self, offset: int, cause: OSError) -> None:
        super().__init__(f"write error @ offset {offset:08x}: {cause.strerror or cause}")
        self.offset = offset
        self.cause = cause
        self.errno = cause.errno


class StorageCutShort(StorageError):
    """The store cannot take more of this dump for a reason that is not a write error.

    An object store that stays unreachable, or a spool of out-of-order data
    that is full: what came is kept, and the dump ends ``incomplete`` with the
    reason (the table of endings), not ``failed``.
    """

    @property
    def reason(self) -> str:
        return self.cause.strerror or str(self.cause)


class DumpLimitReached(DebugnetError):
    """Every index below the per-host limit is taken."""


class BelowFloor(DumpLimitReached):
    """Free space is below the disk floor (``--min-free`` or the ``minfree`` file)."""


@dataclass(frozen=True, slots=True)
class DumpRequest:
    """Who a new dump is from and where its client asked for it to go."""

    client_ip: str
    host: str
    """The client's name for file names (already made safe, or the address)."""
    herald_path: str | None = None
    """The directory the herald named, relative to the store's root; None: the default."""


class DumpSink(Protocol):
    """The files (or objects) of one dump: vmcore, info, key."""

    @property
    def index(self) -> int:
        """The dump's number for its host: ``vmcore.<host>.<index>``."""
        ...

    @property
    def info_path(self) -> Path:
        """Where the info file is, for the handler and the log."""
        ...

    @property
    def core_path(self) -> Path:
        """Where the vmcore is under its current name, for the handler and the log."""
        ...

    def write_at(self, offset: int, pieces: Sequence[Chunk], length: int) -> None:
        """Store ``length`` bytes, the concatenated ``pieces``, at ``offset`` of the vmcore.

        Consumes the pieces before returning (they may be receive-slot views);
        may buffer. Raises ``StorageError``.
        """
        ...

    def write_key(self, offset: int, data: bytes) -> None:
        """Store a piece of the encryption key record at ``offset``. Raises ``StorageError``."""
        ...

    def info(self, line: bytes) -> None:
        """Append one or more lines to the info file, at once where the backend can."""
        ...

    def set_format(self, *, encrypted: bool, compression: str) -> None:
        """Name the vmcore for what the KDH announces (``compression``: none, gzip, zstd).

        Raises ``OSError`` when the name cannot change; the dump goes on.
        """
        ...

    def sync(self, truncate_to: int | None = None) -> None:
        """Make everything written durable, first cutting the vmcore to ``truncate_to``.

        Raises ``StorageError``. Only after this returns may FINISHED be acked.
        """
        ...

    def publish(self) -> None:
        """The dump is complete: point ``<host>.last`` at it and make the names durable."""
        ...

    def allocated(self) -> int:
        """Bytes of storage the vmcore takes now (blocks, not its length: sparse files)."""
        ...

    def close(self) -> None:
        """Release the dump's resources; idempotent. A partial dump stays as it is."""
        ...


class DumpStore(Protocol):
    """Where a server's dumps go."""

    def create(self, request: DumpRequest) -> DumpSink:
        """Take the next free index for ``request.host`` and open that dump.

        Raises ``DumpLimitReached`` when no index is free, ``OSError`` when the
        dump cannot be created (having logged why, with the client's address);
        the herald is then not acknowledged.
        """
        ...

    def check(self, request: DumpRequest) -> None:
        """Whether a dump for ``request`` could be created now, without creating anything.

        Asked before a herald is acknowledged (the dump itself is created only
        when its first KDH, key or data arrives). Raises ``BelowFloor``,
        ``DumpLimitReached`` or ``OSError``, as ``create`` would.
        """
        ...

    def free_bytes(self, request: DumpRequest | None = None) -> int:
        """Bytes available to an unprivileged writer where ``request``'s dump would go."""
        ...

    def room(self, request: DumpRequest | None = None) -> int:
        """Bytes that may still be written before the disk floor; negative below it."""
        ...
