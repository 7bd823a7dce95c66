"""Parsers take any buffer: lengths count bytes even for views of wider items."""

from __future__ import annotations

import array

import pytest

from debugnet.errors import WireError
from debugnet.wire.arp import ArpPacket
from debugnet.wire.ekcd import KeyRecord
from debugnet.wire.ethernet import EthernetFrame
from debugnet.wire.ipv4 import Ipv4Packet
from debugnet.wire.kdh import KernelDumpHeader
from debugnet.wire.message import Ack, Message, MessageHeader

PARSERS = [
    ArpPacket.parse,
    KeyRecord.parse,
    EthernetFrame.parse,
    Ipv4Packet.parse,
    KernelDumpHeader.parse,
    Message.parse,
    MessageHeader.parse,
    Ack.parse,
]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("items", [1, 24, 128, 129])
def test_wide_item_views_are_bytes(parse, items: int) -> None:
    wide = memoryview(array.array("I", range(items)))  # 4 bytes an item
    try:
        got = parse(wide)
    except WireError:
        return
    assert got == parse(wide.tobytes())


def test_message_counts_bytes_not_items() -> None:
    raw = Message.build(3, 1, b"abcd" * 18).emit()  # 24 + 72 = 96 bytes = 24 u32 items
    assert Message.parse(memoryview(raw).cast("I")) == Message.parse(raw)


def test_unterminated_kdh_strings_stop_before_the_last_byte() -> None:
    block = bytearray(KernelDumpHeader.build(
        architecture="amd64", hostname="h", versionstring="v\n", panicstring="p",
        dumplength=0, dumptime=0,
    ).emit())  # fmt: skip
    block[64:128] = b"H" * 64  # the v4 hostname field (offset 64), with no NUL at all
    header = KernelDumpHeader.parse(bytes(block))
    assert header.hostname == "H" * 63  # netdumpd prints 63 characters
    assert b"  Hostname: " + b"H" * 63 + b"\n" in header.info_lines()
