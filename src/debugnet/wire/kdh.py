"""The kerneldumpheader: 512 bytes in front of (and behind) every FreeBSD dump.

Four layouts exist (versions 1 to 4). Each is parsed by its own layout, keyed
on the big-endian version word, because netdumpd's shortcut (reading the word
unswapped, so every header looks like v4 on little-endian hosts) misreads old
headers. Emitting always writes the current layout, version 4.

The header is also the source of most of netdumpd's info file; ``info_lines``
reproduces those lines byte for byte, including C's quirks (``%d`` of unsigned
words, ``ctime`` output), because operators and tools diff them.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum
from functools import reduce
from operator import xor
from typing import Any, ClassVar, Self

from debugnet.errors import WireError
from debugnet.wire.constants import KDH_SIZE as KDH_SIZE
from debugnet.wire.octets import octets

KDH_VERSION = 4


class DumpMagic(Enum):
    KERNEL = b"FreeBSD Kernel Dump"
    TEXT = b"FreeBSD Text Dump"
    CLEARED = b"Cleared Kernel Dump"


class Compression(IntEnum):
    NONE = 0
    GZIP = 1
    ZSTD = 2


_WORDS = struct.Struct("!128I")

# One struct per version; "!" means no padding, which matches the C layouts
# (every multi-byte member already sits on its natural boundary).
_V1 = struct.Struct("!20s12sIIQQI64s192s192sI")
_V2 = struct.Struct("!20s12sIIQQII64s192s188sI")
_V3 = struct.Struct("!20s12sIIQQQIIB64s192s179sI")
_V4 = struct.Struct("!20s12sIIQQII64s192s175sBQ4sI")

MAGIC_SIZE = 20
ARCH_SIZE = 12
HOSTNAME_SIZE = 64
VERSIONSTRING_SIZE = 192
PANICSTRING_SIZE_V4 = 175

# Architecture versions the FreeBSD kernel stamps into its headers
# (KERNELDUMP_<ARCH>_VERSION); anything not listed uses 1.
ARCHITECTURE_VERSIONS = {"amd64": 2, "i386": 2}
TEXT_DUMP_ARCHITECTURE_VERSION = 1

_COMPRESSION_NAMES = {Compression.NONE: "none", Compression.GZIP: "gzip", Compression.ZSTD: "zstd"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def compute_parity(data: bytes | bytearray | memoryview) -> int:
    """XOR of the 128 big-endian words; a valid header (parity word included) gives 0."""
    if len(data) != KDH_SIZE:
        raise WireError("kdh.length", len(data), f"parity is defined over exactly {KDH_SIZE} bytes")
    return reduce(xor, _WORDS.unpack(data), 0)


def _cstr(raw: bytes) -> str:
    # Bytes after the first NUL are not part of a C string, and the field's last
    # byte is always one (netdumpd forces it before printing; the kernel's strlcpy
    # writes it). surrogateescape makes any byte sequence decodable and
    # re-encodable to exactly the same bytes.
    return raw[:-1].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _encode(field: str, value: str, size: int) -> bytes:
    """A string field's bytes, leaving room for the NUL the kernel's strlcpy always writes."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise WireError(field, value, f"not encodable: {exc.reason}") from None
    if b"\0" in raw:
        raise WireError(field, value, "contains a NUL byte")
    if len(raw) >= size:
        raise WireError(field, value, f"{len(raw)} bytes do not fit {size} with a NUL")
    return raw


def _c_int(value: int) -> int:
    """What C's %d prints for a u32: the same bits as a signed int."""
    return value - (1 << 32) if value & 0x8000_0000 else value


def _c_llong(value: int) -> int:
    """What C's %lld prints for a u64 cast to long long."""
    return value - (1 << 64) if value & (1 << 63) else value


def _ctime(seconds: int) -> bytes:
    """C's ctime(3) in the local time zone, or "(null)" where C's returns NULL.

    Built from datetime rather than the time module so that wire stays clear of
    clock-reading imports; the month and day names are fixed like C's, not
    locale-dependent like strftime's.
    """
    try:
        t = datetime.fromtimestamp(_c_llong(seconds))
    except (OverflowError, OSError, ValueError):
        # FreeBSD printf("%s", NULL) prints "(null)", with no newline.
        return b"(null)"
    day, month = _DAYS[t.weekday()], _MONTHS[t.month - 1]
    return f"{day} {month}{t.day:3d} {t:%H:%M:%S} {t.year}\n".encode()


_HEAD = "magic architecture version architectureversion dumplength"
_STRINGS = "hostname versionstring panicstring"
_V4_TAIL = "compression dumpextent unused parity"

# Member names in layout order, one entry per version, matching the structs above.
_LAYOUTS: dict[int, tuple[struct.Struct, list[str]]] = {
    1: (_V1, f"{_HEAD} dumptime blocksize {_STRINGS} parity".split()),
    2: (_V2, f"{_HEAD} dumptime dumpkeysize blocksize {_STRINGS} parity".split()),
    3: (
        _V3,
        f"{_HEAD} dumpextent dumptime dumpkeysize blocksize compression {_STRINGS} parity".split(),
    ),
    4: (_V4, f"{_HEAD} dumptime dumpkeysize blocksize {_STRINGS} {_V4_TAIL}".split()),
}
_STRING_FIELDS = ("architecture", "hostname", "versionstring", "panicstring")


@dataclass(frozen=True, slots=True)
class KernelDumpHeader:
    """One kerneldumpheader, as parsed from any version or built as version 4."""

    SIZE: ClassVar[int] = KDH_SIZE

    magic: bytes
    architecture: str
    version: int
    architectureversion: int
    dumplength: int
    dumptime: int
    blocksize: int
    hostname: str
    versionstring: str
    panicstring: str
    dumpkeysize: int = 0
    dumpextent: int | None = None
    compression: int = 0
    parity: int = 0
    parity_ok: bool = True

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, lenient: bool = False) -> Self:
        """Read the first 512 bytes; a bad parity is recorded, not raised (netdumpd goes on).

        An unknown version is an error, unless ``lenient``: then the header is
        read with the current (v4) layout and keeps its version number, which
        is what netdumpd effectively does with any header it receives.
        """
        data = octets(data)
        if len(data) < KDH_SIZE:
            raise WireError("kdh.length", len(data), f"shorter than the {KDH_SIZE}-byte header")
        block = bytes(data[:KDH_SIZE])
        version = int.from_bytes(block[32:36], "big")
        if version not in _LAYOUTS and not lenient:
            raise WireError("kdh.version", version, "not a known kerneldumpheader version (1-4)")
        layout, names = _LAYOUTS.get(version, _LAYOUTS[KDH_VERSION])
        fields: dict[str, Any] = dict(zip(names, layout.unpack(block), strict=True))
        fields.pop("unused", None)
        fields["magic"] = fields["magic"].rstrip(b"\0")
        for name in _STRING_FIELDS:
            fields[name] = _cstr(fields[name])
        if "compression" in fields:
            fields["compression"] = _compression(fields["compression"])
        return cls(parity_ok=compute_parity(block) == 0, **fields)

    @classmethod
    def build(
        cls,
        *,
        architecture: str,
        hostname: str,
        versionstring: str,
        panicstring: str,
        dumplength: int,
        dumptime: int,
        blocksize: int = 512,
        magic: DumpMagic | bytes = DumpMagic.KERNEL,
        architectureversion: int | None = None,
        dumpkeysize: int = 0,
        dumpextent: int | None = None,
        compression: int = 0,
    ) -> Self:
        """A version-4 header with its parity filled in, as the kernel's dump_init_header makes.

        ``architectureversion`` defaults to the kernel's value for the
        architecture (1 for text dumps); ``dumpextent`` to ``dumplength``.
        """
        raw_magic = magic.value if isinstance(magic, DumpMagic) else bytes(magic)
        if architectureversion is None:
            architectureversion = _default_architecture_version(raw_magic, architecture)
        header = cls(
            magic=raw_magic.rstrip(b"\0"),
            architecture=architecture,
            version=KDH_VERSION,
            architectureversion=architectureversion,
            dumplength=dumplength,
            dumptime=dumptime,
            blocksize=blocksize,
            hostname=hostname,
            versionstring=versionstring,
            panicstring=panicstring,
            dumpkeysize=dumpkeysize,
            dumpextent=dumplength if dumpextent is None else dumpextent,
            compression=_compression(compression),
        )
        block = header.emit()
        return dataclasses.replace(header, parity=int.from_bytes(block[508:], "big"))

    def emit(self) -> bytes:
        """The version-4 layout with a fresh parity word, whatever version was parsed."""
        if len(self.magic) > MAGIC_SIZE:
            raise WireError("kdh.magic", self.magic, f"longer than {MAGIC_SIZE} bytes")
        extent = self.dumplength if self.dumpextent is None else self.dumpextent
        try:
            block = bytearray(
                _V4.pack(
                    self.magic,
                    _encode("kdh.architecture", self.architecture, ARCH_SIZE),
                    KDH_VERSION,
                    self.architectureversion,
                    self.dumplength,
                    self.dumptime,
                    self.dumpkeysize,
                    self.blocksize,
                    _encode("kdh.hostname", self.hostname, HOSTNAME_SIZE),
                    _encode("kdh.versionstring", self.versionstring, VERSIONSTRING_SIZE),
                    _encode("kdh.panicstring", self.panicstring, PANICSTRING_SIZE_V4),
                    self.compression,
                    extent,
                    b"",
                    0,
                )
            )
        except struct.error as exc:
            raise WireError("kdh", self, f"integer field out of range: {exc}") from None
        block[508:] = compute_parity(block).to_bytes(4, "big")
        return bytes(block)

    @property
    def kind(self) -> DumpMagic | None:
        try:
            return DumpMagic(self.magic)
        except ValueError:
            return None

    @property
    def encrypted(self) -> bool:
        return self.dumpkeysize != 0

    @property
    def compression_name(self) -> str:
        """netdumpd's word for the compression; "???" for codes it does not know."""
        try:
            return _COMPRESSION_NAMES[Compression(self.compression)]
        except ValueError:
            return "???"

    def info_lines(self) -> bytes:
        """netdumpd's info-file lines for this header, from Architecture to the parity check."""
        enc = _bytes_of
        parts = [
            b"  Architecture: %s\n" % enc(self.architecture),
            b"  Architecture Version: %d\n" % _c_int(self.architectureversion),
            b"  Dump Length: %dB (%d MB)\n"
            % (_c_llong(self.dumplength), _c_llong(self.dumplength >> 20)),
            b"  Blocksize: %d\n" % _c_int(self.blocksize),
        ]
        if self.version >= 3:
            parts.append(b"  Compression: %s\n" % self.compression_name.encode())
        parts += [
            b"  Dumptime: %s" % _ctime(self.dumptime),
            b"  Hostname: %s\n" % enc(self.hostname),
            b"  Version String: %s" % enc(self.versionstring),
            b"  Panic String: %s\n" % enc(self.panicstring),
            b"  Header Parity Check: %s\n" % (b"Pass" if self.parity_ok else b"Fail"),
        ]
        return b"".join(parts)


def _bytes_of(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise WireError("kdh.string", value, f"not encodable: {exc.reason}") from None


def _compression(code: int) -> int:
    try:
        return Compression(code)
    except ValueError:
        return code


def _default_architecture_version(magic: bytes, architecture: str) -> int:
    if magic.rstrip(b"\0") == DumpMagic.TEXT.value:
        return TEXT_DUMP_ARCHITECTURE_VERSION
    return ARCHITECTURE_VERSIONS.get(architecture, 1)
