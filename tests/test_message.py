import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.errors import WireError
from debugnet.wire.constants import max_payload
from debugnet.wire.message import Ack, Message, MessageHeader, MsgType, is_ack

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)


def test_golden_header() -> None:
    h = MessageHeader(MsgType.DATA, 7, 0x1_0000_0002, 3, 0x2515F095)
    assert h.emit() == bytes.fromhex("00000003 00000007 0000000100000002 00000003 2515f095")


def test_golden_ack_and_types() -> None:
    assert Ack(0x01020304).emit() == b"\x01\x02\x03\x04"
    assert MsgType.VMCORE is MsgType.DATA
    assert [int(t) for t in MsgType] == [1, 2, 3, 4, 5]


def test_max_payload_rule() -> None:
    assert max_payload(1500) == 1448
    assert max_payload(9000) == 8948


@given(u32, u32, u64, u32, st.binary(max_size=100))
def test_message_round_trip(t: int, seq: int, off: int, aux2: int, data: bytes) -> None:
    m = Message.build(t, seq, data, offset=off, aux2=aux2)
    assert Message.parse(m.emit()) == m


@given(u32)
def test_ack_round_trip(seq: int) -> None:
    assert Ack.parse(Ack(seq).emit()) == Ack(seq)
    assert is_ack(Ack(seq).emit())


HEADER = struct.Struct("!IIQII")  # PROTOCOL.md: type, seqno, offset, length, aux2
headed = st.builds(
    lambda fields, data, skew: HEADER.pack(*fields[:3], max(0, len(data) + skew), fields[3]) + data,
    st.tuples(u32, u32, u64, u32),
    st.binary(max_size=40),
    st.sampled_from([0, 0, 0, -1, 1, 7]),  # mostly a length that matches
)


@given(st.binary(max_size=64) | headed)
def test_parsers_agree_with_struct(data: bytes) -> None:
    """Only WireError for bad input, and valid input gives what struct reads from it."""
    if len(data) >= 24:
        fields = HEADER.unpack_from(data)
        assert MessageHeader.parse(data) == MessageHeader(*fields)
        if fields[3] == len(data) - 24:
            assert Message.parse(data) == Message(MessageHeader(*fields), data[24:])
        else:
            with pytest.raises(WireError):
                Message.parse(data)
    else:
        for parse in (Message.parse, MessageHeader.parse):
            with pytest.raises(WireError):
                parse(data)
    if len(data) == 4:
        assert Ack.parse(data) == Ack(int.from_bytes(data, "big"))
    else:
        with pytest.raises(WireError):
            Ack.parse(data)


def test_length_mismatch_rejected() -> None:
    raw = MessageHeader(MsgType.DATA, 1, 0, 5, 0).emit() + b"abc"
    with pytest.raises(WireError) as exc:
        Message.parse(raw)
    assert exc.value.field == "message.mh_len"


def test_out_of_range_emit_is_wire_error() -> None:
    with pytest.raises(WireError):
        MessageHeader(1, 2**32, 0, 0).emit()
    with pytest.raises(WireError):
        Ack(-1).emit()
