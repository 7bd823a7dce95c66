"""Dump encryption as the kernel does it after ``dumpon -k``: the sending half of decryptcore.

A fresh 64-byte key and 32-byte IV; the key is RSA-OAEP (SHA-1) encrypted to
the operator's public key and sent as the key record (PROTOCOL.md section 8)
before any data; the data (after compression) is encrypted with ChaCha20
(counter 0, nonce = the first 8 IV bytes) or AES-256-CBC (IV = the first 16
bytes, no padding, one stream). ``cryptography`` is imported only here and only
when asked for, so the client stays standard-library only without
``--encrypt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from debugnet.errors import InvalidArgument, NotSupported
from debugnet.wire.ekcd import IV_SIZE, KEY_SIZE, EncryptionAlgorithm, KeyRecord

AES_BLOCK = 16
KEY_RECORD_BLOCK = 512
"""The key record is padded to whole dump blocks, as the kernel sends it."""
CIPHERS = {"chacha20": EncryptionAlgorithm.CHACHA20, "aes-256-cbc": EncryptionAlgorithm.AES_256_CBC}


def _cryptography() -> Any:
    try:
        import cryptography.hazmat.primitives.ciphers as ciphers
    except ImportError:
        raise NotSupported(
            "--encrypt needs the 'cryptography' package (pip install debugnet[crypto])"
        ) from None
    return ciphers


class Encryptor:
    """Encrypts the dump data in pieces, as one stream; AES pads only the final piece."""

    def __init__(self, algorithm: EncryptionAlgorithm, key: bytes, iv: bytes) -> None:
        ciphers = _cryptography()
        from cryptography.hazmat.primitives.ciphers import algorithms, modes

        if algorithm is EncryptionAlgorithm.AES_256_CBC:
            cipher = ciphers.Cipher(algorithms.AES(key[:32]), modes.CBC(iv[:AES_BLOCK]))
        else:
            cipher = ciphers.Cipher(algorithms.ChaCha20(key[:32], bytes(8) + iv[:8]), mode=None)
        self.algorithm = algorithm
        self._ctx = cipher.encryptor()
        self._ended = False

    def padded(self, size: int) -> int:
        """The length ``size`` bytes of data take once encrypted."""
        if self.algorithm is EncryptionAlgorithm.AES_256_CBC:
            return -(-size // AES_BLOCK) * AES_BLOCK
        return size

    def update(self, data: bytes) -> bytes:
        """Encrypt the next piece; a piece that is not whole AES blocks must be the last.

        The kernel's dumps are whole disk blocks; a file of any length gets zeros
        up to the next AES block, which the KDH's length then includes.
        """
        if self._ended:
            raise InvalidArgument("AES-CBC data after a final partial block")
        short = self.padded(len(data)) - len(data)
        if short:
            self._ended = True
            data += bytes(short)
        out: bytes = self._ctx.update(data)
        return out


@dataclass(frozen=True, slots=True)
class DumpEncryption:
    key_record: bytes
    """The EKCD key record to send, padded to whole blocks."""
    encryptor: Encryptor


def load_public_key(pem: bytes) -> Any:
    _cryptography()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"not a PEM public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidArgument("not an RSA public key")
    return key


def make_encryption(
    public_pem: bytes, algorithm: EncryptionAlgorithm, *, compressed: bool
) -> DumpEncryption:
    """A fresh key for one dump; AES-CBC with compression is refused, as dumpon(8) does."""
    if algorithm is EncryptionAlgorithm.AES_256_CBC and compressed:
        raise InvalidArgument(
            "AES-256-CBC cannot be combined with compression (dumpon refuses it); "
            "use --cipher chacha20"
        )
    if algorithm not in CIPHERS.values():
        raise InvalidArgument(f"cannot encrypt with {algorithm!r}")
    public = load_public_key(public_pem)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key, iv = os.urandom(KEY_SIZE), os.urandom(IV_SIZE)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    try:
        encrypted_key = public.encrypt(key, oaep)
    except ValueError as exc:
        raise InvalidArgument(f"public key too small for a 64-byte key: {exc}") from None
    record = KeyRecord(algorithm, iv, encrypted_key).emit(KEY_RECORD_BLOCK)
    return DumpEncryption(record, Encryptor(algorithm, key, iv))
