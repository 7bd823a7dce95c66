"""A kernel dump as debugnet messages, in the order of PROTOCOL.md section 7.

Key record first (so a partial dump is still usable), then the KDH, the data
in chunks of at most 64 KiB at their offsets in the core file, and FINISHED.
When the length is not known in advance (standard input) or the data is
compressed, the KDH follows the data, as a kernel's compressed dump does, and
says the length that was actually sent.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from debugnet.errors import error_for_errno
from debugnet.netdump.compress import Compressor
from debugnet.netdump.encrypt import Encryptor
from debugnet.netdump.host import HostInfo, fit_panic
from debugnet.wire.kdh import Compression, DumpMagic, KernelDumpHeader
from debugnet.wire.message import MsgType

log = logging.getLogger(__name__)

CHUNK = 65536
"""The largest piece the kernel's dump code hands to netdump at once."""
NETDUMP_DATASIZE = 4096
"""What the kernel's netdump sets as its dumper's blocksize, so what its KDH says."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    type: MsgType
    data: bytes
    offset: int = 0


@dataclass(frozen=True, slots=True)
class DumpOptions:
    host: HostInfo
    panic: str
    dumptime: int
    key: bytes | None = None
    """The EKCD key record as the kernel sends it (``KeyRecord.emit(blocksize)``)."""
    compressor: Compressor | None = None
    encryptor: Encryptor | None = None
    """Encrypts the data (after compression) for the key in ``key``."""
    kdh_after_data: bool = False
    chunk: int = CHUNK
    blocksize: int = NETDUMP_DATASIZE
    magic: DumpMagic = DumpMagic.KERNEL


class DumpProducer:
    """Reads the source lazily and yields the messages to send, FINISHED excluded."""

    def __init__(
        self, stream: BinaryIO, size: int | None, options: DumpOptions, name: str = "<data>"
    ) -> None:
        self._stream = stream
        self._size = size
        self.options = options
        self.name = name
        """What the source is called in errors (its path)."""
        self.bytes_read = 0
        self.bytes_out = 0

    @property
    def size(self) -> int | None:
        return self._size

    def kdh(self, dumplength: int, extent: int) -> bytes:
        opts = self.options
        compression = opts.compressor.kind if opts.compressor is not None else Compression.NONE
        return KernelDumpHeader.build(
            architecture=opts.host.architecture,
            hostname=opts.host.hostname,
            versionstring=opts.host.versionstring,
            panicstring=fit_panic(opts.panic),
            dumplength=dumplength,
            dumptime=opts.dumptime,
            blocksize=opts.blocksize,
            magic=opts.magic,
            dumpkeysize=len(opts.key) if opts.key else 0,
            dumpextent=extent,
            compression=compression,
        ).emit()

    def messages(self) -> Iterator[Outgoing]:
        opts = self.options
        if opts.key:
            yield Outgoing(MsgType.EKCD_KEY, opts.key)
        kdh_first = self._size is not None and opts.compressor is None and not opts.kdh_after_data
        if kdh_first:
            assert self._size is not None
            length = self._size if opts.encryptor is None else opts.encryptor.padded(self._size)
            yield Outgoing(MsgType.KDH, self.kdh(length, self._size))
        yield from self._data()
        if not kdh_first:
            yield Outgoing(MsgType.KDH, self.kdh(self.bytes_out, self.bytes_read))
        elif self.bytes_read != self._size:
            log.warning(
                "source gave %d bytes, not the %d announced; sending a corrected header",
                self.bytes_read,
                self._size,
            )
            yield Outgoing(MsgType.KDH, self.kdh(self.bytes_out, self.bytes_read))

    def _data(self) -> Iterator[Outgoing]:
        chunk = self.options.chunk
        compressor = self.options.compressor
        pending = bytearray()
        while True:
            block = self._read(chunk)
            if not block:
                break
            self.bytes_read += len(block)
            if compressor is None:
                yield self._emit(block)
                continue
            pending += compressor.compress(block)
            while len(pending) >= chunk:
                yield self._emit(bytes(pending[:chunk]))
                del pending[:chunk]
        if compressor is not None:
            pending += compressor.flush()
            for start in range(0, len(pending), chunk):
                yield self._emit(bytes(pending[start : start + chunk]))

    def _emit(self, data: bytes) -> Outgoing:
        if self.options.encryptor is not None:
            data = self.options.encryptor.update(data)
        out = Outgoing(MsgType.DATA, data, self.bytes_out)
        self.bytes_out += len(data)
        return out

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes; short only at end of input (pipes return less at a time)."""
        parts: list[bytes] = []
        want = n
        while want:
            try:
                part = self._stream.read(want)
            except OSError as exc:  # EIO from a bad disk, /proc/self/mem, a dying device
                where = self.bytes_read + n - want
                raise error_for_errno(
                    exc.errno or errno.EIO,
                    f"{self.name}: read failed at byte {where}: {exc.strerror or exc}",
                ) from None
            if not part:
                break
            parts.append(part)
            want -= len(part)
        return b"".join(parts)
