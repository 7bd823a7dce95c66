"""A GDB remote stub for amd64 over a memory image, sans-I/O (what the target plays).

It answers what a FreeBSD kernel's stub answers and what gdb needs to read
and write memory and registers: ``?``, ``g``/``G``, ``p``/``P``,
``m``/``M``/``X``, ``qSupported`` (PacketSize, ``qXfer:features:read`` and
``QStartNoAckMode``), ``qAttached``, ``c``/``s``, ``D``, ``k`` and Ctrl-C.
Nothing executes: ``c`` reports a stop at once, or after ``run_time`` seconds
unless gdb interrupts first. The first stop reply goes out unsolicited, as the
kernel sends it when it connects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from debugnet.errors import WireError
from debugnet.netgdb.amd64 import BY_NAME, REGISTERS, RIP, RSP, RegisterFile, target_xml
from debugnet.netgdb.framer import GdbFramer
from debugnet.netgdb.image import MemoryImage
from debugnet.netgdb.packet import escape, frame, unescape, unframe

log = logging.getLogger(__name__)

SIGINT, SIGTRAP = 2, 5
_EFAULT = b"E0e"
_EINVAL = b"E16"


class StubState(Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    DETACHED = "detached"
    KILLED = "killed"


@dataclass(slots=True)
class StubStats:
    packets: int = 0
    bad_checksums: int = 0
    unsupported: int = 0
    interrupts: int = 0


class GdbStub:
    """Bytes from gdb in; whole units (packets and single characters) to send out."""

    def __init__(
        self,
        memory: MemoryImage,
        registers: RegisterFile | None = None,
        *,
        packet_size: int = 4096,
        run_time: float = 0.0,
    ) -> None:
        self.memory = memory
        self.registers = registers or RegisterFile()
        self.packet_size = packet_size
        self.run_time = run_time
        self.state = StubState.STOPPED
        self.stats = StubStats()
        self.no_ack = False
        self._framer = GdbFramer()
        self._out: list[bytes] = []
        self._last = b""
        self._stop_at: float | None = None
        self._xml = target_xml()
        self._handlers: dict[int, Callable[[bytes, float], bytes | None]] = {
            ord("?"): lambda b, now: self._stop_reply(SIGTRAP),
            ord("g"): lambda b, now: self.registers.raw().hex().encode(),
            ord("G"): self._write_all_registers,
            ord("p"): self._read_register,
            ord("P"): self._write_register,
            ord("m"): self._read_memory,
            ord("M"): self._write_memory_hex,
            ord("X"): self._write_memory_binary,
            ord("q"): self._query,
            ord("Q"): self._set,
            ord("v"): self._v,
            ord("H"): lambda b, now: b"OK",
            ord("c"): self._resume,
            ord("s"): lambda b, now: self._stop_reply(SIGTRAP),
            ord("D"): self._detach,
            ord("k"): self._kill,
        }
        self._emit(self._stop_reply(SIGTRAP))

    # -- input ---------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        for unit in self._framer.feed(data):
            if self.state in (StubState.DETACHED, StubState.KILLED):
                return
            if unit == b"\x03":
                self._interrupt()
            elif unit == b"-":
                if self._last:
                    self._out.append(self._last)
            elif unit[:1] == b"$":
                self._packet(unit, now)

    def _packet(self, unit: bytes, now: float) -> None:
        try:
            body = unframe(unit)
        except WireError as exc:
            self.stats.bad_checksums += 1
            log.debug("bad packet from gdb: %s", exc)
            if not self.no_ack:
                self._out.append(b"-")
            return
        self.stats.packets += 1
        if not self.no_ack:
            self._out.append(b"+")
        handler = self._handlers.get(body[0]) if body else None
        reply = handler(body, now) if handler is not None else b""
        if handler is None:
            self.stats.unsupported += 1
        if reply is not None:
            self._emit(reply)
        if body == b"QStartNoAckMode":
            self.no_ack = True

    def _emit(self, body: bytes) -> None:
        self._last = frame(body)
        self._out.append(self._last)

    def _interrupt(self) -> None:
        self.stats.interrupts += 1
        if self.state is StubState.RUNNING:
            self.state = StubState.STOPPED
            self._stop_at = None
            self._emit(self._stop_reply(SIGINT))

    # -- output and timers ---------------------------------------------------

    def take_output(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        return self._stop_at

    def handle_timer(self, now: float) -> None:
        if self._stop_at is not None and now >= self._stop_at:
            self._stop_at = None
            self.state = StubState.STOPPED
            self._emit(self._stop_reply(SIGTRAP))

    # -- commands ------------------------------------------------------------

    def _stop_reply(self, signal: int) -> bytes:
        regs = self.registers
        rsp = regs.values[RSP].hex()
        rip = regs.values[RIP].hex()
        return b"T%02x%02x:%s;%02x:%s;" % (signal, RSP, rsp.encode(), RIP, rip.encode())

    def _write_all_registers(self, body: bytes, now: float) -> bytes:
        try:
            ok = self.registers.set_raw(bytes.fromhex(body[1:].decode()))
        except ValueError:
            ok = False
        return b"OK" if ok else _EINVAL

    def _read_register(self, body: bytes, now: float) -> bytes:
        try:
            index = int(body[1:], 16)
            return self.registers.values[index].hex().encode()
        except (ValueError, IndexError):
            return _EINVAL

    def _write_register(self, body: bytes, now: float) -> bytes:
        num, _, value = body[1:].partition(b"=")
        try:
            index = int(num, 16)
            raw = bytes.fromhex(value.decode())
            if len(raw) != REGISTERS[index].bits // 8:
                return _EINVAL
        except (ValueError, IndexError):
            return _EINVAL
        self.registers.values[index] = raw
        return b"OK"

    @staticmethod
    def _addr_len(spec: bytes) -> tuple[int, int]:
        addr, _, length = spec.partition(b",")
        return int(addr, 16), int(length, 16)

    def _read_memory(self, body: bytes, now: float) -> bytes:
        try:
            addr, length = self._addr_len(body[1:])
        except ValueError:
            return _EINVAL
        data = self.memory.read(addr, min(length, (self.packet_size - 4) // 2))
        return data.hex().encode() if data or not length else _EFAULT

    def _write_memory_hex(self, body: bytes, now: float) -> bytes:
        spec, _, hexdata = body[1:].partition(b":")
        try:
            addr, length = self._addr_len(spec)
            data = bytes.fromhex(hexdata.decode())
        except ValueError:
            return _EINVAL
        if len(data) != length:
            return _EINVAL
        return b"OK" if self.memory.write(addr, data) else _EFAULT

    def _write_memory_binary(self, body: bytes, now: float) -> bytes:
        spec, _, raw = body[1:].partition(b":")
        try:
            addr, length = self._addr_len(spec)
            data = unescape(raw)
        except (ValueError, WireError):
            return _EINVAL
        if len(data) != length:
            return _EINVAL
        return b"OK" if not data or self.memory.write(addr, data) else _EFAULT

    def _query(self, body: bytes, now: float) -> bytes:
        if body.startswith(b"qSupported"):
            return b"PacketSize=%x;qXfer:features:read+;QStartNoAckMode+" % self.packet_size
        if body.startswith(b"qXfer:features:read:target.xml:"):
            try:
                offset, length = self._addr_len(body.rsplit(b":", 1)[1])
            except ValueError:
                return _EINVAL
            chunk = self._xml[offset : offset + length]
            more = offset + length < len(self._xml)
            return (b"m" if more else b"l") + escape(chunk)
        if body == b"qAttached":
            return b"1"
        self.stats.unsupported += 1
        return b""

    def _set(self, body: bytes, now: float) -> bytes:
        if body == b"QStartNoAckMode":
            return b"OK"  # _packet turns acks off once this reply went out
        self.stats.unsupported += 1
        return b""

    def _v(self, body: bytes, now: float) -> bytes:
        if body.startswith(b"vKill"):
            self.state = StubState.KILLED
            return b"OK"
        return b""  # vCont?, vMustReplyEmpty and the rest: unsupported

    def _resume(self, body: bytes, now: float) -> bytes | None:
        if self.run_time <= 0:
            return self._stop_reply(SIGTRAP)
        self.state = StubState.RUNNING
        self._stop_at = now + self.run_time
        return None

    def _detach(self, body: bytes, now: float) -> bytes:
        self.state = StubState.DETACHED
        return b"OK"

    def _kill(self, body: bytes, now: float) -> None:
        self.state = StubState.KILLED
        return None


__all__ = ["BY_NAME", "GdbStub", "StubState"]
