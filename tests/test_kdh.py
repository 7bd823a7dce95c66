"""kerneldumpheader: golden headers built by hand from the PROTOCOL.md §8 offsets."""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.errors import WireError
from debugnet.wire.kdh import (
    KDH_SIZE,
    Compression,
    DumpMagic,
    KernelDumpHeader,
    compute_parity,
)

MAGIC = b"FreeBSD Kernel Dump"
VERSION_STRING = b"FreeBSD 15.0-CURRENT #0 main-n270000: Mon Nov 23 01:00:00 UTC 2026\n"
DUMPTIME = 1_795_398_271  # Mon Nov 23 01:44:31 2026 UTC


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def put(buf: bytearray, offset: int, value: bytes | int, width: int = 0) -> None:
    """Store bytes as they are, or an integer big-endian in ``width`` bytes."""
    raw = value if isinstance(value, bytes) else value.to_bytes(width, "big")
    buf[offset : offset + len(raw)] = raw


def seal(buf: bytearray, good: bool = True) -> bytes:
    """Fill the parity word at 508 so the 128 words XOR to 0 (or to 1 when not good)."""
    acc = 0
    for i in range(0, 508, 4):
        acc ^= int.from_bytes(buf[i : i + 4], "big")
    put(buf, 508, acc ^ (0 if good else 1), 4)
    return bytes(buf)


Field = tuple[int, bytes | int, int]  # offset, value, width (0 for bytes)


def hand_built(version: int, fields: list[Field]) -> bytes:
    """A sealed header: the members every version shares, then ``fields`` at their offsets."""
    buf = bytearray(512)
    shared: list[Field] = [(0, MAGIC, 0), (20, b"amd64", 0), (32, version, 4), (36, 2, 4)]
    for offset, value, width in [*shared, (40, 0x1_2345_6789, 8), *fields]:
        put(buf, offset, value, width)
    return seal(buf)


def golden_v1() -> bytes:
    ints: list[Field] = [(48, DUMPTIME, 8), (56, 512, 4)]  # dumptime, blocksize
    strings: list[Field] = [(60, b"crashbox", 0), (124, VERSION_STRING, 0), (316, b"page fault", 0)]
    return hand_built(1, ints + strings)


def golden_v2() -> bytes:
    # dumptime, dumpkeysize, blocksize
    ints: list[Field] = [(48, DUMPTIME, 8), (56, 1024, 4), (60, 4096, 4)]
    strings: list[Field] = [(64, b"crashbox", 0), (128, VERSION_STRING, 0), (320, b"page fault", 0)]
    return hand_built(2, ints + strings)


def golden_v3() -> bytes:
    # dumpextent, dumptime, dumpkeysize, blocksize, compression (gzip)
    ints: list[Field] = [(48, 0x2000, 8), (56, DUMPTIME, 8), (64, 0, 4), (68, 512, 4), (72, 1, 1)]
    strings: list[Field] = [(73, b"crashbox", 0), (137, VERSION_STRING, 0), (329, b"page fault", 0)]
    return hand_built(3, ints + strings)


def golden_v4(compression: int = 2, hostname: bytes = b"crashbox") -> bytes:
    # dumptime, dumpkeysize, blocksize; compression and dumpextent after the panic string
    ints: list[Field] = [(48, DUMPTIME, 8), (56, 0, 4), (60, 512, 4)]
    strings: list[Field] = [(64, hostname, 0), (128, VERSION_STRING, 0), (320, b"page fault", 0)]
    return hand_built(4, ints + strings + [(495, compression, 1), (496, 0x4000, 8)])


def expected(version: int, **changes: object) -> KernelDumpHeader:
    base = KernelDumpHeader(
        magic=MAGIC,
        architecture="amd64",
        version=version,
        architectureversion=2,
        dumplength=0x1_2345_6789,
        dumptime=DUMPTIME,
        blocksize=512,
        hostname="crashbox",
        versionstring=VERSION_STRING.decode(),
        panicstring="page fault",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def parity_word(block: bytes) -> int:
    return int.from_bytes(block[508:], "big")


def test_golden_v1() -> None:
    block = golden_v1()
    assert KernelDumpHeader.parse(block) == expected(1, parity=parity_word(block))


def test_golden_v2() -> None:
    block = golden_v2()
    want = expected(2, dumpkeysize=1024, blocksize=4096, parity=parity_word(block))
    assert KernelDumpHeader.parse(block) == want
    assert KernelDumpHeader.parse(block).encrypted


def test_golden_v3() -> None:
    block = golden_v3()
    want = expected(3, dumpextent=0x2000, compression=1, parity=parity_word(block))
    assert KernelDumpHeader.parse(block) == want
    assert KernelDumpHeader.parse(block).compression is Compression.GZIP


def test_golden_v4() -> None:
    block = golden_v4()
    header = KernelDumpHeader.parse(block)
    assert header == expected(4, dumpextent=0x4000, compression=2, parity=parity_word(block))
    assert header.kind is DumpMagic.KERNEL
    assert not header.encrypted


def test_emit_reproduces_hand_built_v4() -> None:
    block = golden_v4()
    assert KernelDumpHeader.parse(block).emit() == block


def test_build_matches_hand_built_v4() -> None:
    header = KernelDumpHeader.build(
        architecture="amd64",
        hostname="crashbox",
        versionstring=VERSION_STRING.decode(),
        panicstring="page fault",
        dumplength=0x1_2345_6789,
        dumptime=DUMPTIME,
        dumpextent=0x4000,
        compression=Compression.ZSTD,
    )
    assert header.emit() == golden_v4()
    assert header.parity == parity_word(golden_v4())
    assert header.version == 4 and header.architectureversion == 2


def test_build_defaults() -> None:
    args = dict(hostname="h", versionstring="v", panicstring="p", dumplength=5, dumptime=0)
    assert KernelDumpHeader.build(architecture="aarch64", **args).architectureversion == 1  # type: ignore[arg-type]
    text = KernelDumpHeader.build(architecture="amd64", magic=DumpMagic.TEXT, **args)  # type: ignore[arg-type]
    assert text.architectureversion == 1 and text.kind is DumpMagic.TEXT
    assert text.dumpextent == 5 and text.compression == 0 and text.blocksize == 512


def test_old_versions_emit_as_v4() -> None:
    block = KernelDumpHeader.parse(golden_v1()).emit()
    assert block[32:36] == b"\0\0\0\4"
    assert block[496:504] == (0x1_2345_6789).to_bytes(8, "big")  # extent defaults to length
    again = KernelDumpHeader.parse(block)
    assert (again.version, again.dumpextent, again.hostname) == (4, 0x1_2345_6789, "crashbox")


GOLDEN_INFO_V4 = (
    b"  Architecture: amd64\n"
    b"  Architecture Version: 2\n"
    b"  Dump Length: 4886718345B (4660 MB)\n"
    b"  Blocksize: 512\n"
    b"  Compression: zstd\n"
    b"  Dumptime: Mon Nov 23 01:44:31 2026\n"
    b"  Hostname: crashbox\n"
    b"  Version String: FreeBSD 15.0-CURRENT #0 main-n270000: Mon Nov 23 01:00:00 UTC 2026\n"
    b"  Panic String: page fault\n"
    b"  Header Parity Check: Pass\n"
)


@pytest.mark.usefixtures("utc")
def test_info_lines_golden() -> None:
    assert KernelDumpHeader.parse(golden_v4()).info_lines() == GOLDEN_INFO_V4


@pytest.mark.usefixtures("utc")
def test_info_lines_v1_has_no_compression_line() -> None:
    lines = KernelDumpHeader.parse(golden_v1()).info_lines()
    assert b"Compression" not in lines
    assert lines == GOLDEN_INFO_V4.replace(b"  Compression: zstd\n", b"")
    v2 = KernelDumpHeader.parse(golden_v2()).info_lines()
    assert b"  Blocksize: 4096\n  Dumptime: " in v2


@pytest.mark.usefixtures("utc")
def test_info_lines_v3_gzip() -> None:
    assert b"  Compression: gzip\n" in KernelDumpHeader.parse(golden_v3()).info_lines()


@pytest.mark.usefixtures("utc")
def test_unknown_compression_prints_question_marks() -> None:
    header = KernelDumpHeader.parse(golden_v4(compression=7))
    assert header.compression == 7
    assert b"  Compression: ???\n" in header.info_lines()


def test_bad_parity_does_not_raise() -> None:
    buf = bytearray(golden_v4())
    buf[100] ^= 0x40
    header = KernelDumpHeader.parse(bytes(buf))
    assert not header.parity_ok
    assert header.info_lines().endswith(b"  Header Parity Check: Fail\n")
    assert KernelDumpHeader.parse(seal(bytearray(golden_v4()), good=False)).parity_ok is False


@pytest.mark.usefixtures("utc")
def test_bad_utf8_hostname_is_byte_exact() -> None:
    raw = b"caf\xe9-\xff\xfe\xc3"
    header = KernelDumpHeader.parse(golden_v4(hostname=raw))
    assert b"  Hostname: " + raw + b"\n" in header.info_lines()
    assert header.emit()[64:72] == raw


@pytest.mark.usefixtures("utc")
def test_c_int_formatting_of_unsigned_fields() -> None:
    buf = bytearray(golden_v4())
    put(buf, 36, 0xFFFF_FFFF, 4)
    put(buf, 60, 0x8000_0000, 4)
    put(buf, 40, 2**64 - 1, 8)
    lines = KernelDumpHeader.parse(seal(buf)).info_lines()
    assert b"  Architecture Version: -1\n" in lines
    assert b"  Blocksize: -2147483648\n" in lines
    assert b"  Dump Length: -1B (17592186044415 MB)\n" in lines


def test_unrepresentable_dumptime_prints_null() -> None:
    buf = bytearray(golden_v4())
    put(buf, 48, 2**62, 8)
    lines = KernelDumpHeader.parse(seal(buf)).info_lines()
    assert b"  Dumptime: (null)  Hostname: crashbox\n" in lines


def test_dumptime_follows_local_zone_like_ctime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "EST+5EDT,M3.2.0/2,M11.1.0/2")
    time.tzset()
    try:
        for t in (DUMPTIME, 1_783_000_000, 0, 1_000_000_005):
            header = dataclasses.replace(KernelDumpHeader.parse(golden_v4()), dumptime=t)
            want = b"  Dumptime: " + time.ctime(t).encode() + b"\n"
            assert want in header.info_lines()
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("version", [0, 5, 0x04000000, 0xFFFFFFFF])
def test_unknown_version_rejected(version: int) -> None:
    buf = bytearray(golden_v4())
    put(buf, 32, version, 4)
    with pytest.raises(WireError) as info:
        KernelDumpHeader.parse(seal(buf))
    assert info.value.field == "kdh.version" and info.value.value == version


def test_every_short_length_rejected() -> None:
    block = golden_v4()
    for n in range(KDH_SIZE):
        with pytest.raises(WireError) as info:
            KernelDumpHeader.parse(block[:n])
        assert info.value.field == "kdh.length" and info.value.value == n


def test_extra_bytes_ignored_and_views_accepted() -> None:
    block = golden_v4()
    assert KernelDumpHeader.parse(block + b"junk") == KernelDumpHeader.parse(block)
    assert KernelDumpHeader.parse(memoryview(bytearray(block))) == KernelDumpHeader.parse(block)


def test_strings_stop_at_first_nul() -> None:
    header = KernelDumpHeader.parse(golden_v4(hostname=b"a\0bcdef"))
    assert header.hostname == "a"


def test_magic_keeps_unknown_values() -> None:
    buf = bytearray(golden_v4())
    put(buf, 0, b"Cleared Kernel Dump\0")
    assert KernelDumpHeader.parse(seal(buf)).kind is DumpMagic.CLEARED
    put(buf, 0, b"XYZ\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
    header = KernelDumpHeader.parse(seal(buf))
    assert header.magic == b"XYZ" and header.kind is None


@pytest.mark.parametrize(
    ("field", "value", "size"),
    [
        ("architecture", "a", 12),
        ("hostname", "h", 64),
        ("versionstring", "v", 192),
        ("panicstring", "p", 175),
    ],
)
def test_emit_rejects_overlong_strings(field: str, value: str, size: int) -> None:
    base = KernelDumpHeader.parse(golden_v4())
    fits: dict[str, object] = {field: value * (size - 1)}
    too_long: dict[str, object] = {field: value * size}
    assert dataclasses.replace(base, **fits).emit()  # type: ignore[arg-type]
    with pytest.raises(WireError) as info:
        dataclasses.replace(base, **too_long).emit()  # type: ignore[arg-type]
    assert info.value.field == f"kdh.{field}"


def test_emit_rejects_other_bad_values() -> None:
    base = KernelDumpHeader.parse(golden_v4())
    bad: list[dict[str, object]] = [
        {"magic": b"x" * 21},
        {"hostname": "a\0b"},
        {"hostname": "\ud800"},
        {"dumplength": 2**64},
        {"blocksize": -1},
        {"compression": 256},
    ]
    for changes in bad:
        with pytest.raises(WireError):
            dataclasses.replace(base, **changes).emit()  # type: ignore[arg-type]


def test_v1_panicstring_too_long_for_v4() -> None:
    buf = bytearray(golden_v1())
    put(buf, 316, b"x" * 191)
    header = KernelDumpHeader.parse(seal(buf))
    assert header.panicstring == "x" * 191
    with pytest.raises(WireError) as info:
        header.emit()
    assert info.value.field == "kdh.panicstring"


def test_compute_parity() -> None:
    assert compute_parity(golden_v4()) == 0
    assert compute_parity(bytes(508) + b"\x01\x02\x03\x04") == 0x01020304
    words = struct.pack("!128I", *range(128))
    acc = 0
    for i in range(128):
        acc ^= i
    assert compute_parity(words) == acc
    with pytest.raises(WireError):
        compute_parity(bytes(511))


def cstring(max_bytes: int) -> st.SearchStrategy[str]:
    """Any NUL-free bytes, as parse would decode them (so bad UTF-8 is covered too)."""
    raw = st.binary(max_size=max_bytes).filter(lambda b: b"\0" not in b)
    return raw.map(lambda b: b.decode("utf-8", "surrogateescape"))


u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)


@given(
    arch=cstring(11),
    host=cstring(63),
    vers=cstring(191),
    panic=cstring(174),
    nums=st.tuples(u64, u64, u32, u32, u32, u64, st.integers(0, 255)),
    magic=st.sampled_from(DumpMagic),
)
def test_v4_round_trip(
    arch: str,
    host: str,
    vers: str,
    panic: str,
    nums: tuple[int, int, int, int, int, int, int],
    magic: DumpMagic,
) -> None:
    length, dumptime, blocksize, archver, keysize, extent, comp = nums
    header = KernelDumpHeader.build(
        architecture=arch,
        hostname=host,
        versionstring=vers,
        panicstring=panic,
        dumplength=length,
        dumptime=dumptime,
        blocksize=blocksize,
        magic=magic,
        architectureversion=archver,
        dumpkeysize=keysize,
        dumpextent=extent,
        compression=comp,
    )
    block = header.emit()
    assert len(block) == KDH_SIZE and compute_parity(block) == 0
    assert KernelDumpHeader.parse(block) == header


def check_parse(data: bytes) -> None:
    try:
        header = KernelDumpHeader.parse(data)
    except WireError:
        return
    assert header.info_lines().startswith(b"  Architecture: ")
    try:
        block = header.emit()
    except WireError:
        return
    again = KernelDumpHeader.parse(block)
    assert again.parity_ok and again.version == 4
    if header.version == 4:
        assert dataclasses.replace(again, parity=header.parity, parity_ok=header.parity_ok) == (
            header
        )


@given(st.binary(min_size=512, max_size=512), st.integers(0, 6))
def test_parse_any_block(data: bytes, version: int) -> None:
    check_parse(data)
    check_parse(data[:32] + version.to_bytes(4, "big") + data[36:])


@given(st.binary(max_size=700))
def test_parse_any_length(data: bytes) -> None:
    check_parse(data)
