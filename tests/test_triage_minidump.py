"""The message buffer read from hand-built amd64 minidumps, plain and compressed."""

from __future__ import annotations

import gzip
import io

import pytest

from debugnet.errors import FormatError
from debugnet.triage.decompress import read_head
from debugnet.triage.minidump import is_minidump, message_buffer, parse_header
from tests.minidumps import minidump, ring_with

OLD = b"<6>Copyright (c) 1992-2023 The FreeBSD Project.\n" + b"<6>ada0: 476940MB\n" * 60
NEW = (
    b"<0>panic: page fault\n"
    b"cpuid = 3\n"
    b"KDB: stack backtrace:\n"
    b"#0 0xffffffff80b9009d at kdb_backtrace+0x5d\n"
    b"#1 0xffffffff80b43132 at vpanic+0x132\n"
    b"#2 0xffffffff80c3d7f4 at ixl_rx+0x44\n"
)
SIZE = 1000  # not a page multiple: the struct fits in the rounded region


def test_wrapped_ring_is_read_from_the_write_position() -> None:
    text = OLD + NEW
    assert len(text) > SIZE  # the ring has wrapped: the oldest lines are gone
    wseq = 7 * SIZE + 123  # the write sequence has gone round several times
    image = minidump(ring_with(text, SIZE, wseq), wseq=wseq)
    mb = message_buffer(image)
    assert mb.ordered
    expected = text[-SIZE:].replace(b"<6>", b"").replace(b"<0>", b"").decode()
    assert mb.text == expected
    assert mb.text.endswith("ixl_rx+0x44\n")


def test_unwrapped_ring_drops_the_unused_nuls() -> None:
    text = b"<5>hello\n<4>world\n"
    image = minidump(ring_with(text, SIZE, len(text)), wseq=len(text))
    assert message_buffer(image).text == "hello\nworld\n"


def test_priority_prefixes_only_at_line_starts() -> None:
    text = b"<3>a <4> b\n"
    image = minidump(ring_with(text, SIZE, len(text)), wseq=len(text))
    assert message_buffer(image).text == "a <4> b\n"


def test_without_the_struct_the_text_ends_after_the_last_panic() -> None:
    size = 4096  # page-aligned ring: no struct msgbuf in the dumped pages
    text = OLD + NEW
    image = minidump(ring_with(text, size, len(text)), wseq=None)
    mb = message_buffer(image)
    assert not mb.ordered
    assert mb.text == text.replace(b"<6>", b"").replace(b"<0>", b"").decode()


def test_without_the_struct_a_full_ring_still_holds_the_panic() -> None:
    size = 4096
    text = OLD * 5 + NEW
    wseq = 5 * size + 77
    mb = message_buffer(minidump(ring_with(text, size, wseq), wseq=None))
    assert not mb.ordered and "panic: page fault\ncpuid = 3\n" in mb.text


def test_a_bad_struct_magic_falls_back() -> None:
    text = OLD + NEW
    image = minidump(ring_with(text, SIZE, 5000), wseq=5000, magic=0x1234)
    mb = message_buffer(image)
    assert not mb.ordered


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_minidump_decompresses_only_the_head(compression: str) -> None:
    text = OLD + NEW
    image = minidump(ring_with(text, SIZE, 3 * SIZE), wseq=3 * SIZE, pages_after=256)
    if compression == "gzip":
        packed = gzip.compress(image)
    else:
        zstandard = pytest.importorskip("zstandard")
        packed = zstandard.ZstdCompressor().compress(image)
    stream = io.BytesIO(packed)
    first = read_head(stream, compression, 4096)
    header = parse_header(first)
    stream.seek(0)
    head = read_head(stream, compression, header.head_size)
    assert len(head) == header.head_size
    assert message_buffer(head) == message_buffer(image)


def test_gzip_head_stops_reading_input_early() -> None:
    image = minidump(ring_with(NEW, SIZE, len(NEW)), wseq=len(NEW), pages_after=4096)
    packed = gzip.compress(image, compresslevel=0)  # stored blocks: input ~ output
    stream = io.BytesIO(packed)
    read_head(stream, "gzip", 8192)
    assert stream.tell() < len(packed) // 8


def test_truncated_compressed_stream_gives_what_is_there() -> None:
    image = minidump(ring_with(NEW, SIZE, len(NEW)), wseq=len(NEW))
    packed = gzip.compress(image)[:-40]
    head = read_head(io.BytesIO(packed), "gzip", len(image))
    assert 0 < len(head) <= len(image) and image.startswith(head)


def test_not_a_minidump() -> None:
    assert not is_minidump(b"\x7fELF" + bytes(100))
    with pytest.raises(FormatError):
        parse_header(b"minidump FreeBSD/i386\0\0\0" + bytes(100))
    with pytest.raises(FormatError):
        parse_header(b"minidump")
    bad_version = bytearray(minidump(b"x" * 100, wseq=1))
    bad_version[24] = 9
    with pytest.raises(FormatError):
        parse_header(bytes(bad_version))
