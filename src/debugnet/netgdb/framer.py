"""Cuts a GDB remote-protocol byte stream into units, without interpreting them.

A unit is a whole packet (``$...#xx`` or a ``%...#xx`` notification, its
payload passed through untouched: run-length encoding and ``}`` escapes never
contain a raw ``#``) or a single character outside a packet (``+``, ``-``,
the interrupt byte 0x03, or noise). Sans-I/O: feed bytes, get units.
"""

from __future__ import annotations

from dataclasses import dataclass

_START = frozenset(b"$%")
_HASH = 0x23


@dataclass(slots=True)
class FramerStats:
    units: int = 0
    oversized: int = 0


class GdbFramer:
    """Bytes in, complete units out; a partial packet waits for the rest."""

    def __init__(self, max_packet: int = 1 << 20) -> None:
        self.max_packet = max_packet
        self.stats = FramerStats()
        self._partial = bytearray()
        self._tail = -1  # checksum characters still missing after '#', or -1 in the body

    @property
    def pending(self) -> int:
        """Bytes of a packet begun and not yet complete."""
        return len(self._partial)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        units: list[bytes] = []
        buf = bytes(data)
        pos, n = 0, len(buf)
        partial = self._partial
        while pos < n:
            if not partial:
                byte = buf[pos]
                if byte not in _START:
                    units.append(buf[pos : pos + 1])
                    pos += 1
                    continue
                partial.append(byte)
                pos += 1
                self._tail = -1
            if self._tail < 0:
                end = buf.find(b"#", pos)
                if end < 0:
                    partial += buf[pos:]
                    pos = n
                    break
                partial += buf[pos : end + 1]
                pos = end + 1
                self._tail = 2
            take = min(self._tail, n - pos)
            partial += buf[pos : pos + take]
            pos += take
            self._tail -= take
            if self._tail == 0:
                units.append(bytes(partial))
                partial.clear()
                self._tail = -1
        if len(partial) > self.max_packet:
            self.stats.oversized += 1
            units.append(bytes(partial))  # pass it on: the stub will refuse it, not us
            partial.clear()
            self._tail = -1
        self.stats.units += len(units)
        return units


def split_unit(unit: bytes, payload: int) -> list[tuple[bytes, int]]:
    """A unit as the kernel sends one: pieces of at most ``payload`` bytes with their offsets.

    Every piece carries aux2 = ``len(unit)`` (the caller's part) and
    mh_offset = its position within the unit.
    """
    return [(unit[i : i + payload], i) for i in range(0, max(len(unit), 1), payload)]
