"""decryptcore-compatible decryption against dumps encrypted by the openssl command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from debugnet.errors import DecryptError, FormatError
from debugnet.triage.decrypt import StreamDecryptor, unlock
from debugnet.wire.ekcd import EncryptionAlgorithm, KeyRecord
from tests.opensslutil import encrypt_dump, needs_openssl, rsa_keypair

pytestmark = needs_openssl


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    private, public = rsa_keypair(d)
    other, _ = rsa_keypair(d, "other")
    return private, public, other


def _key_file(public: Path, key_size: int = 64) -> bytes:
    key_file, _ = encrypt_dump(
        public, EncryptionAlgorithm.CHACHA20, bytes(100), os.urandom(key_size), os.urandom(32)
    )
    return key_file


def _decrypt(key_file: bytes, private: Path, data: bytes, piece: int = 1000) -> bytes:
    dec = StreamDecryptor(unlock(key_file, private.read_bytes()))
    out = b"".join(dec.update(data[i : i + piece]) for i in range(0, len(data), piece))
    return out + dec.finalize()


@pytest.mark.parametrize(
    "algorithm", [EncryptionAlgorithm.AES_256_CBC, EncryptionAlgorithm.CHACHA20]
)
@pytest.mark.parametrize("padding", ["oaep", "pkcs1"])
def test_restores_what_openssl_encrypted(
    keys: tuple[Path, Path, Path], algorithm: EncryptionAlgorithm, padding: str
) -> None:
    private, public, _ = keys
    data = os.urandom(64 * 1024 + 4096)
    key, iv = os.urandom(64), os.urandom(32)
    key_file, encrypted = encrypt_dump(public, algorithm, data, key, iv, padding)
    assert encrypted != data
    assert _decrypt(key_file, private, encrypted) == data


def test_chacha20_needs_no_whole_blocks(keys: tuple[Path, Path, Path]) -> None:
    private, public, _ = keys
    data = os.urandom(12345)
    key_file, encrypted = encrypt_dump(
        public, EncryptionAlgorithm.CHACHA20, data, os.urandom(64), os.urandom(32)
    )
    assert _decrypt(key_file, private, encrypted, piece=7) == data


def test_aes_with_a_partial_block_is_refused(keys: tuple[Path, Path, Path]) -> None:
    private, public, _ = keys
    key_file, encrypted = encrypt_dump(
        public, EncryptionAlgorithm.AES_256_CBC, bytes(4096), os.urandom(64), os.urandom(32)
    )
    with pytest.raises(DecryptError, match="AES blocks"):
        _decrypt(key_file, private, encrypted[:-3])


def test_wrong_private_key(keys: tuple[Path, Path, Path]) -> None:
    _, public, other = keys
    key_file = _key_file(public)
    with pytest.raises(DecryptError, match="wrong private key"):
        unlock(key_file, other.read_bytes())


def test_key_material_not_64_bytes(keys: tuple[Path, Path, Path]) -> None:
    private, public, _ = keys
    key_file = _key_file(public, key_size=32)
    with pytest.raises(DecryptError, match="64 bytes"):
        unlock(key_file, private.read_bytes())


@pytest.mark.parametrize("cut", [0, 10, 36, 37, 200])
def test_truncated_key_file(keys: tuple[Path, Path, Path], cut: int) -> None:
    private, public, _ = keys
    key_file = _key_file(public)
    with pytest.raises(FormatError, match="key file"):
        unlock(key_file[:cut], private.read_bytes())


def test_unknown_cipher(keys: tuple[Path, Path, Path]) -> None:
    private, _, _ = keys
    record = KeyRecord(EncryptionAlgorithm.NONE, bytes(32), bytes(256)).emit()
    with pytest.raises(DecryptError, match="cipher"):
        unlock(record, private.read_bytes())
    bad = bytearray(record)
    bad[0] = 7
    with pytest.raises(FormatError, match="unknown encryption"):
        unlock(bytes(bad), private.read_bytes())


def test_not_a_private_key(keys: tuple[Path, Path, Path]) -> None:
    _, public, _ = keys
    key_file = _key_file(public)
    with pytest.raises(DecryptError, match="private key"):
        unlock(key_file, public.read_bytes())
