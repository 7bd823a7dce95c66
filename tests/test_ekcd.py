"""The encryption key record: golden bytes, round trips and every limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.errors import WireError
from debugnet.wire.ekcd import (
    IV_SIZE,
    KEY_SIZE,
    MAX_ENCRYPTED_KEY,
    EncryptionAlgorithm,
    KeyRecord,
)

IV = bytes(range(0x20, 0x40))
KEY = bytes(range(256))
GOLDEN = b"\x02" + IV + b"\x00\x00\x01\x00" + KEY


def test_constants() -> None:
    assert (KEY_SIZE, IV_SIZE, MAX_ENCRYPTED_KEY) == (64, 32, 2048)
    assert [int(a) for a in EncryptionAlgorithm] == [0, 1, 2]


def test_golden_parse_and_emit() -> None:
    record = KeyRecord.parse(GOLDEN)
    assert record == KeyRecord(EncryptionAlgorithm.CHACHA20, IV, KEY)
    assert record.encryption is EncryptionAlgorithm.CHACHA20
    assert record.emit() == GOLDEN
    assert len(GOLDEN) == 37 + 256


def test_kernel_block_padding() -> None:
    record = KeyRecord(EncryptionAlgorithm.AES_256_CBC, IV, KEY)
    padded = record.emit(blocksize=512)
    assert len(padded) == 512 and padded[: len(GOLDEN)] == b"\x01" + GOLDEN[1:]
    assert padded[len(GOLDEN) :] == bytes(512 - len(GOLDEN))
    assert KeyRecord.parse(padded) == record
    assert len(KeyRecord(EncryptionAlgorithm.NONE, IV, bytes(475)).emit(blocksize=512)) == 512
    assert len(KeyRecord(EncryptionAlgorithm.NONE, IV, bytes(476)).emit(blocksize=512)) == 1024


def test_nonzero_trailing_bytes_rejected() -> None:
    with pytest.raises(WireError) as info:
        KeyRecord.parse(GOLDEN + b"\0\0\x01")
    assert info.value.field == "ekcd.trailing"


def test_every_short_length_rejected() -> None:
    for n in range(37):
        with pytest.raises(WireError) as info:
            KeyRecord.parse(GOLDEN[:n])
        assert info.value.field == "ekcd.length"
    for n in range(37, len(GOLDEN)):
        with pytest.raises(WireError) as info:
            KeyRecord.parse(GOLDEN[:n])
        assert info.value.field == "ekcd.encryptedkeysize"


def test_encrypted_key_size_limit() -> None:
    at_limit = KeyRecord(EncryptionAlgorithm.CHACHA20, IV, bytes(MAX_ENCRYPTED_KEY))
    assert KeyRecord.parse(at_limit.emit()) == at_limit
    over = b"\x02" + IV + (MAX_ENCRYPTED_KEY + 1).to_bytes(4, "big") + bytes(MAX_ENCRYPTED_KEY + 1)
    with pytest.raises(WireError) as info:
        KeyRecord.parse(over)
    assert info.value.field == "ekcd.encryptedkeysize"
    with pytest.raises(WireError) as info:
        KeyRecord(EncryptionAlgorithm.CHACHA20, IV, bytes(MAX_ENCRYPTED_KEY + 1)).emit()
    assert info.value.field == "ekcd.encryptedkeysize"


def test_huge_declared_size_rejected() -> None:
    with pytest.raises(WireError):
        KeyRecord.parse(b"\x01" + IV + b"\xff\xff\xff\xff")


@pytest.mark.parametrize("code", [3, 0x80, 0xFF])
def test_unknown_algorithm_rejected(code: int) -> None:
    with pytest.raises(WireError) as info:
        KeyRecord.parse(bytes([code]) + GOLDEN[1:])
    assert info.value.field == "ekcd.encryption" and info.value.value == code
    with pytest.raises(WireError) as info:
        KeyRecord(code, IV, KEY).emit()  # type: ignore[arg-type]
    assert info.value.field == "ekcd.encryption"


@pytest.mark.parametrize("n", [0, 16, 31, 33, 64])
def test_emit_requires_32_byte_iv(n: int) -> None:
    with pytest.raises(WireError) as info:
        KeyRecord(EncryptionAlgorithm.CHACHA20, bytes(n), KEY).emit()
    assert info.value.field == "ekcd.iv"


def test_emit_rejects_zero_blocksize() -> None:
    with pytest.raises(WireError):
        KeyRecord(EncryptionAlgorithm.CHACHA20, IV, KEY).emit(blocksize=0)


def test_empty_key_allowed() -> None:
    record = KeyRecord(EncryptionAlgorithm.NONE, IV, b"")
    assert record.emit() == b"\0" + IV + bytes(4)
    assert KeyRecord.parse(record.emit()) == record


@given(
    st.sampled_from(EncryptionAlgorithm),
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=MAX_ENCRYPTED_KEY),
    st.integers(1, 4096),
)
def test_round_trip(alg: EncryptionAlgorithm, iv: bytes, key: bytes, blocksize: int) -> None:
    record = KeyRecord(alg, iv, key)
    assert KeyRecord.parse(record.emit()) == record
    padded = record.emit(blocksize)
    assert len(padded) % blocksize == 0
    assert KeyRecord.parse(memoryview(padded)) == record


@given(st.binary(max_size=200))
def test_parse_raises_only_wire_error(data: bytes) -> None:
    try:
        record = KeyRecord.parse(data)
    except WireError:
        return
    assert record.emit() == data[: 37 + len(record.encrypted_key)]
