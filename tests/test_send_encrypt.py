"""`debugnet send --encrypt` to the real server, restored by `dumps decrypt` and by openssl."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from debugnet.cli import main
from debugnet.wire.ekcd import EncryptionAlgorithm, KeyRecord
from tests.opensslutil import decrypt_data, needs_openssl, rsa_decrypt, rsa_keypair
from tests.serverutil import Running, record_when, signed, start_server

pytestmark = needs_openssl
SIZE = 300_001  # not a whole number of AES blocks
PORT = 20123
"""A herald port of our own: another server on the box may hold 0.0.0.0:20023."""


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[[], Running]]:
    started: list[Running] = []

    def make() -> Running:
        srv = start_server(tmp_path / "crash", port=PORT)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return rsa_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    data = random.Random(3).randbytes(SIZE // 2) + bytes(SIZE - SIZE // 2)
    path = tmp_path / "memory.img"
    path.write_bytes(data)
    return path, data


def _send(srv: Running, public: Path, src: Path, *extra: str) -> int:
    argv = ["send", "-s", srv.ip, "-c", srv.ip, "--port", str(PORT), "--encrypt", str(public)]
    return main([*argv, *extra, str(src)])


def _files(srv: Running) -> list[str]:
    names = [p.name for p in srv.dumpdir.iterdir() if not p.name.endswith(".last")]
    return sorted(n for n in names if n.startswith(("vmcore", "key")))


@pytest.mark.parametrize(
    ("cipher", "algorithm"),
    [("chacha20", EncryptionAlgorithm.CHACHA20), ("aes-256-cbc", EncryptionAlgorithm.AES_256_CBC)],
)
def test_round_trip(
    run_server: Callable[..., Running],
    keys: tuple[Path, Path],
    source: tuple[Path, bytes],
    capsys: pytest.CaptureFixture[str],
    cipher: str,
    algorithm: EncryptionAlgorithm,
) -> None:
    private, public = keys
    src, data = source
    srv = run_server()
    assert _send(srv, public, src, "--cipher", cipher) == 0
    assert f"encrypted ({cipher})" in capsys.readouterr().out
    host = srv.ip
    encrypted = (srv.dumpdir / f"vmcore_encrypted.{host}.0").read_bytes()
    padded = data + bytes(-len(data) % 16) if cipher == "aes-256-cbc" else data
    assert len(encrypted) == len(padded) and encrypted[:4096] != data[:4096]
    # the independent oracle: openssl unwraps the key and decrypts the data
    record = KeyRecord.parse((srv.dumpdir / f"key.{host}.0").read_bytes())
    assert record.encryption is algorithm
    key = rsa_decrypt(private, record.encrypted_key)
    assert len(key) == 64
    assert decrypt_data(algorithm, encrypted, key, record.iv) == padded
    # and our decryptcore
    assert (
        main(["dumps", "--dir", str(srv.dumpdir), "decrypt", f"{host}.0", "--key", str(private)])
        == 0
    )
    assert (srv.dumpdir / f"vmcore.{host}.0").read_bytes() == padded
    assert f"Dump Length: {len(padded)}B" in (srv.dumpdir / f"info.{host}.0").read_text()


def test_compressed_then_encrypted(
    run_server: Callable[..., Running], keys: tuple[Path, Path], source: tuple[Path, bytes]
) -> None:
    private, public = keys
    src, data = source
    srv = run_server()
    assert _send(srv, public, src, "--compress", "gzip") == 0
    host = srv.ip
    assert _files(srv) == [f"key.{host}.0", f"vmcore_encrypted.{host}.0.gz"]
    record_when(srv.dumpdir, f"{host}.0", signed)
    d = ["dumps", "--dir", str(srv.dumpdir)]
    assert main([*d, "decrypt", f"{host}.0", "--key", str(private)]) == 0
    assert gzip.decompress((srv.dumpdir / f"vmcore.{host}.0.gz").read_bytes()) == data
    assert main([*d, "extract", f"{host}.0"]) == 0
    assert (srv.dumpdir / f"vmcore.{host}.0").read_bytes() == data


def test_aes_with_compression_is_refused(
    run_server: Callable[..., Running],
    keys: tuple[Path, Path],
    source: tuple[Path, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, public = keys
    srv = run_server()
    assert _send(srv, public, source[0], "--cipher", "aes-256-cbc", "--compress", "zstd") == 1
    err = capsys.readouterr().err
    assert "AES-256-CBC cannot be combined with compression" in err and err.count("\n") == 1
    assert _files(srv) == []


def test_bad_public_key_and_cipher_alone(
    tmp_path: Path, source: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    assert main(["send", "-s", "127.0.0.1", "--encrypt", str(bad), str(source[0])]) == 1
    assert "not a PEM public key" in capsys.readouterr().err
    assert main(["send", "-s", "127.0.0.1", "--cipher", "chacha20", str(source[0])]) == 1
    assert "--cipher needs --encrypt" in capsys.readouterr().err


def test_client_without_encrypt_imports_no_cryptography() -> None:
    code = (
        "import sys, debugnet.netdump.send, debugnet.cli.send; "
        "sys.exit('cryptography' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
