"""decryptcore(8), in Python: the key record and an RSA private key give back the plain dump.

Key file = the ``kerneldumpkey`` the client sent (PROTOCOL.md section 8). The
RSA ciphertext must be exactly the modulus size; RSA-OAEP (SHA-1) is tried
first, then PKCS#1 v1.5; the plaintext must be 64 bytes, of which the ciphers
use the first 32. AES-256-CBC: IV = the first 16 IV bytes, no padding, one
stream. ChaCha20: OpenSSL's 16-byte IV = 8 zero counter bytes, then the first
8 IV bytes. ``cryptography`` is imported only here, as the optional ``crypto``
extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from debugnet.errors import DecryptError, FormatError, NotSupported, WireError
from debugnet.wire.ekcd import KEY_SIZE, EncryptionAlgorithm, KeyRecord

CIPHER_KEY_SIZE = 32
AES_BLOCK = 16


def require_cryptography() -> Any:
    """The ``cryptography`` package, or a one-line error naming the extra that provides it."""
    try:
        import cryptography.hazmat.primitives.ciphers as ciphers
    except ImportError:
        raise NotSupported(
            "encrypted dumps need the 'cryptography' package (pip install debugnet[crypto])"
        ) from None
    return ciphers


@dataclass(frozen=True, slots=True)
class DumpKey:
    algorithm: EncryptionAlgorithm
    key: bytes
    """The 64 bytes of key material; the ciphers use the first 32."""
    iv: bytes


def parse_key_file(data: bytes) -> KeyRecord:
    try:
        record = KeyRecord.parse(data)
    except WireError as exc:
        raise FormatError(f"key file: {exc.reason} ({exc.field}={exc.value!r})") from None
    if record.encryption not in (EncryptionAlgorithm.AES_256_CBC, EncryptionAlgorithm.CHACHA20):
        raise DecryptError(f"key file: cipher {record.encryption.name} cannot be decrypted")
    return record


def unlock(key_file: bytes, private_pem: bytes) -> DumpKey:
    """Decrypt the key record's key with the private key, exactly as decryptcore tries it."""
    require_cryptography()
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    record = parse_key_file(key_file)
    try:
        private = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DecryptError(f"private key: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private, rsa.RSAPrivateKey):
        raise DecryptError("private key: not an RSA key")
    modulus = private.key_size // 8
    if len(record.encrypted_key) != modulus:
        raise DecryptError(
            f"wrong private key: the encrypted key has {len(record.encrypted_key)} bytes, "
            f"the key's modulus {modulus}"
        )
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    for pad in (oaep, padding.PKCS1v15()):
        try:
            plain = private.decrypt(record.encrypted_key, pad)
        except ValueError:
            continue
        if len(plain) == KEY_SIZE:
            return DumpKey(record.encryption, plain, record.iv)
    raise DecryptError("wrong private key: the dump's key does not decrypt to 64 bytes")


class StreamDecryptor:
    """Decrypts the dump data in pieces of any size, as one continuous stream."""

    def __init__(self, key: DumpKey) -> None:
        ciphers = require_cryptography()
        from cryptography.hazmat.primitives.ciphers import algorithms, modes

        k = key.key[:CIPHER_KEY_SIZE]
        if key.algorithm is EncryptionAlgorithm.AES_256_CBC:
            cipher = ciphers.Cipher(algorithms.AES(k), modes.CBC(key.iv[:AES_BLOCK]))
        else:
            cipher = ciphers.Cipher(algorithms.ChaCha20(k, chacha20_nonce(key.iv)), mode=None)
        self.algorithm = key.algorithm
        self._ctx = cipher.decryptor()
        self.total = 0

    def update(self, data: bytes) -> bytes:
        self.total += len(data)
        out: bytes = self._ctx.update(data)
        return out

    def finalize(self) -> bytes:
        if self.algorithm is EncryptionAlgorithm.AES_256_CBC and self.total % AES_BLOCK:
            raise DecryptError(
                f"encrypted dump of {self.total} bytes is not a whole number of AES blocks"
            )
        out: bytes = self._ctx.finalize()
        return out


def chacha20_nonce(iv: bytes) -> bytes:
    """OpenSSL's 16-byte ChaCha20 IV for the kernel's: counter 0, then the first 8 IV bytes."""
    return bytes(8) + iv[:8]
