"""`debugnet dumps` on directories made by hand (netdumpd and savecore) and encrypted by openssl."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from debugnet.cli import main
from debugnet.wire.ekcd import EncryptionAlgorithm
from tests.dumpdirs import TRAP_MSGBUF, trap_minidump, write_netdumpd, write_savecore
from tests.opensslutil import encrypt_dump, needs_openssl, rsa_keypair
from tests.records import RECORD_FIELDS

TRAP = "Fatal trap NUM: page fault while in kernel mode in tcp_output"


def run(capsys: pytest.CaptureFixture[str], d: Path, *args: str) -> tuple[int, str, str]:
    code = main(["dumps", "--dir", str(d), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def crash(tmp_path: Path) -> Path:
    write_netdumpd(tmp_path, "db3", 0)
    write_netdumpd(tmp_path, "db3", 1, end="Dump incomplete: client timed out")
    write_netdumpd(tmp_path, "web7", 0, compress=True, panic="vm_fault: pager read error, pid 77")
    write_netdumpd(tmp_path, "web7", 1, core=b"plain", panic="vm_fault: pager read error, pid 91")
    write_savecore(tmp_path / "rack2" / "db9", 0)
    return tmp_path


def test_list_table_and_json(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, crash, "list")
    assert code == 0 and "5 dumps" in err  # the catalogue was built from the files
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STARTED", "STATE", "BYTES", "SIGNATURE"]
    assert len(lines) == 6 and all(len(line) <= 100 for line in lines)
    assert any("[timed out]" in line and line.startswith("db3.1 ") for line in lines)
    code, out, _ = run(capsys, crash, "list", "--json")
    docs = json.loads(out)
    assert len(docs) == 5 and all(set(d) >= RECORD_FIELDS for d in docs)
    db30 = next(d for d in docs if d["id"] == "db3.0")
    assert db30["signature"] == TRAP and db30["length"] == db30["bytes"]
    assert db30["files"] == ["info.db3.0", "vmcore.db3.0"] and db30["ip"] == "192.0.2.7"
    _, out, _ = run(capsys, crash, "list", "--json", "--host", "web7", "--limit", "1")
    assert len(json.loads(out)) == 1
    _, out, _ = run(capsys, crash, "list", "--json", "--state", "incomplete")
    assert [d["id"] for d in json.loads(out)] == ["db3.1"]
    _, out, _ = run(capsys, crash, "list", "--json", "--since", "1h", "--signature", TRAP)
    assert len(json.loads(out)) == 4


def test_groups_and_merge(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, crash, "groups", "--json")
    groups = {g["signature"]: g for g in json.loads(out)}
    assert groups[TRAP]["count"] == 4 and groups[TRAP]["hosts"] == ["db3", "db9", "web7"]
    assert set(groups) == {TRAP, "vm_fault: pager read error, pid NUM"}
    assert {"signature", "count", "hosts", "first_seen", "last_seen", "latest"} <= set(groups[TRAP])
    code, _, _ = run(capsys, crash, "merge", TRAP, "vm_fault: pager read error, pid NUM")
    assert code == 0
    _, out, _ = run(capsys, crash, "groups")
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].split()[0] == "5" and "[+1 merged] " in lines[1]
    assert all(len(line) <= 100 for line in lines)


def test_show_and_msgbuf(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, crash, "show", "rack2/db9.0")
    assert code == 0 and "Dump Status: good" in out and "tcp_output+0x1a1" in out
    _, out, _ = run(capsys, crash, "show", "db3.0", "--json")
    doc = json.loads(out)
    assert doc["info"].startswith("Dump from db3 [192.0.2.7]") and "KDB" in doc["msgbuf_tail"]
    _, out, _ = run(capsys, crash, "msgbuf", "web7.0")  # from the gzip-compressed dump
    assert out == TRAP_MSGBUF.replace(b"<6>", b"").decode()
    code, _, err = run(capsys, crash, "msgbuf", "web7.1")
    assert code == 1 and "no amd64 minidump" in err and len(err.splitlines()) == 1


def test_unknown_and_malformed_ids(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, crash, "show", "nope.3")
    assert code == 1 and "no dump nope.3" in err
    code, _, err = run(capsys, crash, "show", "nope")
    assert code == 1 and "not a dump ID" in err


def test_extract(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, crash, "extract", "web7.0")
    assert code == 0 and (crash / "vmcore.web7.0").read_bytes() == trap_minidump()
    code, _, err = run(capsys, crash, "extract", "web7.0")
    assert code == 1 and "exists" in err
    assert run(capsys, crash, "extract", "web7.0", "--force")[0] == 0
    _, out, _ = run(capsys, crash, "show", "web7.0", "--json")
    assert json.loads(out)["files"] == ["info.web7.0", "vmcore.web7.0", "vmcore.web7.0.gz"]
    code, _, err = run(capsys, crash, "extract", "db3.0")
    assert code == 1 and "no compressed vmcore" in err


def test_rm_and_reindex(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (crash / "vmcore.db3.last").symlink_to("vmcore.db3.1")
    (crash / "info.db3.last").symlink_to("info.db3.1")
    code, _, err = run(capsys, crash, "rm", "db3.1", "nope.0")
    assert (
        code == 1 and "no dump nope.0" in err and (crash / "info.db3.1").exists()
    )  # all or nothing
    code, out, _ = run(capsys, crash, "rm", "db3.1", "rack2/db9.0")
    assert code == 0 and "removed info.db3.1" in out
    assert not (crash / "info.db3.1").exists() and not (crash / "rack2/db9/vmcore.0").exists()
    assert not os.path.lexists(crash / "vmcore.db3.last")
    assert not os.path.lexists(crash / "rack2/db9/vmcore.last")
    _, out, _ = run(capsys, crash, "reindex")
    assert out.startswith("3 dumps indexed")


def test_since_must_be_a_duration(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dumps", "--dir", str(crash), "list", "--since", "yesterday"])


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, tmp_path / "nope", "list")
    assert code == 1 and "no such dump directory" in err


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    private, public = rsa_keypair(d)
    return private, public, rsa_keypair(d, "other")[0]


@needs_openssl
@pytest.mark.parametrize(
    ("algorithm", "compress"),
    [
        (EncryptionAlgorithm.CHACHA20, False),
        (EncryptionAlgorithm.AES_256_CBC, False),
        (EncryptionAlgorithm.CHACHA20, True),
    ],
)
def test_decrypt_what_openssl_encrypted(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    algorithm: EncryptionAlgorithm,
    compress: bool,
) -> None:
    private, public = rsa_keypair(tmp_path)
    other, _ = rsa_keypair(tmp_path, "other")
    crash = tmp_path / "crash"
    plain = trap_minidump() + os.urandom(8192)
    data = gzip.compress(plain) if compress else plain
    key_file, encrypted = encrypt_dump(public, algorithm, data, os.urandom(64), os.urandom(32))
    core = write_netdumpd(crash, "db3", 0, core=encrypted, compress=False)
    core.rename(crash / "vmcore_encrypted.db3.0")
    (crash / "key.db3.0").write_bytes(key_file)
    if compress:  # the info file says gzip, as the KDH of a compressed dump does
        info = crash / "info.db3.0"
        info.write_bytes(info.read_bytes().replace(b"Compression: none", b"Compression: gzip"))
    run(capsys, crash, "reindex")
    code, _, err = run(capsys, crash, "decrypt", "db3.0", "--key", str(other))
    assert code == 1 and "wrong private key" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in crash.iterdir() if p.name.startswith("vmcore")) == [
        "vmcore_encrypted.db3.0"
    ]
    code, out, _ = run(capsys, crash, "decrypt", "db3.0", "--key", str(private))
    assert code == 0
    name = "vmcore.db3.0.gz" if compress else "vmcore.db3.0"
    assert (crash / name).read_bytes() == data
    if compress:
        assert run(capsys, crash, "extract", "db3.0")[0] == 0
        assert (crash / "vmcore.db3.0").read_bytes() == plain
    _, out, _ = run(capsys, crash, "msgbuf", "db3.0")
    assert "tcp_output" in out
    code, _, err = run(capsys, crash, "decrypt", "db3.0", "--key", str(private))
    assert code == 1 and "exists" in err


@needs_openssl
def test_decrypt_truncated_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: tuple[Path, Path, Path]
) -> None:
    private, public, _ = keys
    key_file, encrypted = encrypt_dump(
        public, EncryptionAlgorithm.CHACHA20, b"x" * 1000, os.urandom(64), os.urandom(32)
    )
    crash = tmp_path / "crash"
    write_netdumpd(crash, "db3", 0, core=encrypted).rename(crash / "vmcore_encrypted.db3.0")
    (crash / "key.db3.0").write_bytes(key_file[:100])
    code, _, err = run(capsys, crash, "decrypt", "db3.0", "--key", str(private))
    assert code == 1 and "key file" in err
    assert not (crash / "vmcore.db3.0").exists()
    assert not [p for p in crash.iterdir() if p.name.endswith(".partial")]


def test_rm_refuses_a_dump_being_received(crash: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from debugnet.catalogue import DumpRecord, open_catalogue

    run(capsys, crash, "reindex")
    cat = open_catalogue(crash)
    cat.put(DumpRecord(host="live", index=0, started=1.0))
    cat.close()
    code, _, err = run(capsys, crash, "rm", "live.0", "db3.0")
    assert code == 1 and "still being received" in err and (crash / "info.db3.0").exists()
