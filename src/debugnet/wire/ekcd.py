"""The encryption key record (``struct kerneldumpkey``) sent as the EKCD_KEY message.

Packed, big-endian: u8 algorithm, 32-byte IV, u32 encrypted-key size, then the
RSA-encrypted symmetric key. The kernel pads the record with zeros to a whole
number of dump blocks (its ``dumpkeysize``), so parsing accepts trailing zeros
but refuses any other trailing byte: a record with data past its declared key
is not one the kernel wrote.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from debugnet.errors import WireError
from debugnet.wire.octets import octets

KEY_SIZE = 64
"""Bytes of symmetric key material dumpon generates (256-bit ciphers use the first 32)."""
IV_SIZE = 32
MAX_ENCRYPTED_KEY = 2048
"""KERNELDUMP_ENCKEY_MAX_SIZE: the largest RSA-encrypted key the kernel accepts."""

_FIXED = struct.Struct("!B32sI")


class EncryptionAlgorithm(IntEnum):
    NONE = 0
    AES_256_CBC = 1
    CHACHA20 = 2


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A kerneldumpkey: which cipher, its IV, and the encrypted key that unlocks the dump."""

    FIXED_SIZE: ClassVar[int] = _FIXED.size

    encryption: EncryptionAlgorithm
    iv: bytes
    encrypted_key: bytes

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        data = octets(data)
        if len(data) < _FIXED.size:
            raise WireError("ekcd.length", len(data), f"shorter than the {_FIXED.size}-byte record")
        code, iv, size = _FIXED.unpack_from(data)
        if size > MAX_ENCRYPTED_KEY:
            raise WireError("ekcd.encryptedkeysize", size, f"over {MAX_ENCRYPTED_KEY} bytes")
        present = len(data) - _FIXED.size
        if size > present:
            raise WireError("ekcd.encryptedkeysize", size, f"but only {present} bytes follow")
        end = _FIXED.size + size
        if any(bytes(data[end:])):
            raise WireError(
                "ekcd.trailing", present - size, "non-zero bytes after the encrypted key"
            )
        return cls(_algorithm(code), iv, bytes(data[_FIXED.size : end]))

    def emit(self, blocksize: int = 1) -> bytes:
        """The record, zero-padded to a multiple of ``blocksize`` as the kernel sends it."""
        encryption = _algorithm(self.encryption)
        if len(self.iv) != IV_SIZE:
            raise WireError("ekcd.iv", len(self.iv), f"must be exactly {IV_SIZE} bytes")
        size = len(self.encrypted_key)
        if size > MAX_ENCRYPTED_KEY:
            raise WireError("ekcd.encryptedkeysize", size, f"over {MAX_ENCRYPTED_KEY} bytes")
        if blocksize < 1:
            raise WireError("ekcd.blocksize", blocksize, "must be at least 1")
        record = _FIXED.pack(encryption, self.iv, size) + self.encrypted_key
        return record + bytes(-len(record) % blocksize)


def _algorithm(code: int) -> EncryptionAlgorithm:
    try:
        return EncryptionAlgorithm(code)
    except ValueError:
        raise WireError("ekcd.encryption", code, "unknown encryption algorithm") from None
