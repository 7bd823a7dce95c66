"""The openssl command as an independent oracle for dump encryption (decryptcore's formats)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from debugnet.wire.ekcd import EncryptionAlgorithm, KeyRecord

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command is not installed"
)


def openssl(*args: str, data: bytes | None = None) -> bytes:
    proc = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True)
    return proc.stdout


def rsa_keypair(directory: Path, name: str = "dump", bits: int = 2048) -> tuple[Path, Path]:
    private = directory / f"{name}.key.pem"
    public = directory / f"{name}.pub.pem"
    openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", str(private)
    )
    openssl("pkey", "-in", str(private), "-pubout", "-out", str(public))
    return private, public


def rsa_encrypt(public: Path, data: bytes, padding: str = "oaep") -> bytes:
    return openssl(
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        str(public),
        "-pkeyopt",
        f"rsa_padding_mode:{padding}",
        data=data,
    )


def rsa_decrypt(private: Path, data: bytes) -> bytes:
    return openssl(
        "pkeyutl",
        "-decrypt",
        "-inkey",
        str(private),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        data=data,
    )


def cipher_args(algorithm: EncryptionAlgorithm, key: bytes, iv: bytes) -> list[str]:
    """``openssl enc`` arguments for the kernel's cipher as decryptcore(8) sets it up."""
    if algorithm is EncryptionAlgorithm.AES_256_CBC:
        return ["-aes-256-cbc", "-nopad", "-K", key[:32].hex(), "-iv", iv[:16].hex()]
    return ["-chacha20", "-K", key[:32].hex(), "-iv", (bytes(8) + iv[:8]).hex()]


def encrypt_dump(
    public: Path,
    algorithm: EncryptionAlgorithm,
    data: bytes,
    key: bytes,
    iv: bytes,
    padding: str = "oaep",
) -> tuple[bytes, bytes]:
    """(key file, encrypted data) as a kernel after ``dumpon -k`` would have them stored."""
    record = KeyRecord(algorithm, iv, rsa_encrypt(public, key, padding)).emit(blocksize=512)
    return record, openssl("enc", "-e", *cipher_args(algorithm, key, iv), data=data)


def decrypt_data(algorithm: EncryptionAlgorithm, data: bytes, key: bytes, iv: bytes) -> bytes:
    return openssl("enc", "-d", *cipher_args(algorithm, key, iv), data=data)
