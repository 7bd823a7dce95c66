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


@given(st.binary(max_size=64))
def test_parsers_raise_only_wire_error(data: bytes) -> None:
    for parse in (Message.parse, MessageHeader.parse, Ack.parse):
        try:
            parse(data)
        except WireError:
            pass


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
