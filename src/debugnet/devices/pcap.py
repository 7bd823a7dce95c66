"""Capture to classic pcap files, as a tap on any interface.

The writer knows nothing about interfaces; ``capture`` hooks it to one. The
clock is a parameter: ``time.time`` on real interfaces, the simulator's
``now`` in virtual time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from enum import Flag
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from debugnet.errors import WireError
from debugnet.ifnet import Ifnet, Tap, TapDirection

PCAP_MAGIC = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """A little-endian pcap 2.4 file, microsecond (or nanosecond) timestamps."""

    def __init__(
        self,
        target: str | Path | BinaryIO,
        *,
        snaplen: int = 65535,
        linktype: int = LINKTYPE_ETHERNET,
        nanoseconds: bool = False,
    ) -> None:
        if isinstance(target, str | Path):
            self._file: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed by close()
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self.snaplen = snaplen
        self._scale = 1_000_000_000 if nanoseconds else 1_000_000
        magic = PCAP_MAGIC_NS if nanoseconds else PCAP_MAGIC
        self._file.write(_GLOBAL.pack(magic, 2, 4, 0, 0, snaplen, linktype))
        self.frames = 0

    def write(self, frame: bytes, timestamp: float) -> None:
        sec = int(timestamp)
        frac = round((timestamp - sec) * self._scale)
        if frac >= self._scale:
            sec, frac = sec + 1, frac - self._scale
        data = frame[: self.snaplen]
        self._file.write(_RECORD.pack(sec, frac, len(data), len(frame)))
        self._file.write(data)
        self.frames += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Direction(Flag):
    IN = 1
    OUT = 2
    BOTH = 3


def capture(
    ifp: Ifnet,
    writer: PcapWriter,
    clock: Callable[[], float],
    direction: Direction = Direction.BOTH,
) -> Tap:
    """Write every frame ``ifp`` receives and/or sends; returns the tap for ``uncapture``."""
    wanted = {TapDirection.IN} if direction & Direction.IN else set()
    if direction & Direction.OUT:
        wanted.add(TapDirection.OUT)

    def tap(d: TapDirection, frame: bytes) -> None:
        if d in wanted:
            writer.write(frame, clock())

    ifp.taps.append(tap)
    return tap


def uncapture(ifp: Ifnet, tap: Tap) -> None:
    ifp.taps.remove(tap)


def read_pcap(path: str | Path) -> Iterator[tuple[float, bytes]]:
    """(timestamp, frame) of each record of a pcap file; WireError if malformed."""
    data = Path(path).read_bytes()
    if len(data) < _GLOBAL.size:
        raise WireError("pcap.header", len(data), "file shorter than the global header")
    magic = _GLOBAL.unpack_from(data)[0]
    if magic not in (PCAP_MAGIC, PCAP_MAGIC_NS):
        raise WireError("pcap.magic", hex(magic), "not a little-endian pcap file")
    scale = 1e9 if magic == PCAP_MAGIC_NS else 1e6
    pos = _GLOBAL.size
    while pos < len(data):
        if pos + _RECORD.size > len(data):
            raise WireError("pcap.record", pos, "truncated record header")
        sec, frac, incl, _orig = _RECORD.unpack_from(data, pos)
        pos += _RECORD.size
        if pos + incl > len(data):
            raise WireError("pcap.record", pos, "truncated record data")
        yield sec + frac / scale, data[pos : pos + incl]
        pos += incl
