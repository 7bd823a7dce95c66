"""The amd64 register file the stub serves, and its GDB target description.

gdb's i386 code wants the feature ``org.gnu.gdb.i386.core`` with the general
registers and the x87 ones in its own order, and ``org.gnu.gdb.i386.sse``; the
numbering below is the order of the ``g`` packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from debugnet.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    bits: int
    type: str
    group: str = "general"


def _regs() -> tuple[Register, ...]:
    gp = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"] + [f"r{i}" for i in range(8, 16)]
    regs = [Register(n, 64, "data_ptr" if n in ("rbp", "rsp") else "int64") for n in gp]
    regs.append(Register("rip", 64, "code_ptr"))
    regs.append(Register("eflags", 32, "int32"))
    regs += [Register(n, 32, "int32") for n in ("cs", "ss", "ds", "es", "fs", "gs")]
    regs += [Register(f"st{i}", 80, "i387_ext", "float") for i in range(8)]
    x87 = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
    regs += [Register(n, 32, "int", "float") for n in x87]
    regs += [Register(f"xmm{i}", 128, "vec128", "vector") for i in range(16)]
    regs.append(Register("mxcsr", 32, "int", "vector"))
    return tuple(regs)


REGISTERS = _regs()
CORE_COUNT = 40
"""Registers 0..39 belong to the core feature, the rest to the SSE feature."""
BY_NAME = {r.name: i for i, r in enumerate(REGISTERS)}
RSP, RIP = BY_NAME["rsp"], BY_NAME["rip"]


def _reg_xml(i: int, r: Register) -> str:
    return (
        f'  <reg name="{r.name}" bitsize="{r.bits}" type="{r.type}" '
        f'regnum="{i}" group="{r.group}"/>\n'
    )


def target_xml() -> bytes:
    """The description gdb reads with qXfer:features:read:target.xml."""
    core = "".join(_reg_xml(i, r) for i, r in enumerate(REGISTERS[:CORE_COUNT]))
    sse = "".join(_reg_xml(i, r) for i, r in enumerate(REGISTERS) if i >= CORE_COUNT)
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n'
        "<target>\n<architecture>i386:x86-64</architecture>\n"
        '<feature name="org.gnu.gdb.i386.core">\n'
        f"{core}</feature>\n"
        '<feature name="org.gnu.gdb.i386.sse">\n'
        '  <vector id="v2u64" type="uint64" count="2"/>\n'
        '  <union id="vec128">\n    <field name="v2_int64" type="v2u64"/>\n'
        '    <field name="uint128" type="uint128"/>\n  </union>\n'
        f"{sse}</feature>\n</target>\n"
    ).encode()


class RegisterFile:
    """Register values as little-endian bytes, in ``g`` packet order."""

    def __init__(self) -> None:
        self.values = [bytes(r.bits // 8) for r in REGISTERS]

    def set(self, index: int, value: int) -> None:
        size = REGISTERS[index].bits // 8
        self.values[index] = (value & ((1 << (size * 8)) - 1)).to_bytes(size, "little")

    def get(self, index: int) -> int:
        return int.from_bytes(self.values[index], "little")

    def raw(self) -> bytes:
        return b"".join(self.values)

    def set_raw(self, data: bytes) -> bool:
        """All registers from a ``G`` packet's bytes; False if the size is wrong."""
        if len(data) != sum(r.bits // 8 for r in REGISTERS):
            return False
        pos = 0
        for i, r in enumerate(REGISTERS):
            n = r.bits // 8
            self.values[i] = data[pos : pos + n]
            pos += n
        return True

    @classmethod
    def load(cls, path: Path | None) -> RegisterFile:
        """Zeros, or ``NAME VALUE`` / ``NAME=VALUE`` lines (``#`` starts a comment)."""
        regs = cls()
        if path is None:
            return regs
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidArgument(f"--registers {path}: {exc.strerror}") from None
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].replace("=", " ").strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in BY_NAME:
                raise InvalidArgument(f"--registers {path}:{lineno}: want NAME VALUE: {line!r}")
            try:
                regs.set(BY_NAME[parts[0]], int(parts[1], 0))
            except ValueError:
                raise InvalidArgument(f"--registers {path}:{lineno}: bad value") from None
        return regs
