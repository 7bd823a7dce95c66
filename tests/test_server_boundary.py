"""The dump directory is a boundary: no symlink swapped in at any step leads a write out.

A client names a subdirectory in its herald; someone with write access to the
dump directory (another tenant of a shared collector, a compromised handler)
swaps that subdirectory for a symlink to a directory outside at one step of
the dump. Whatever the step, nothing may appear outside, and the dump ends up
whole in the directory it was created in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from debugnet.storage.directory import DirectoryStore, DumpFiles
from debugnet.storage.dirfd import DirHandle
from debugnet.storage.interface import DumpRequest
from debugnet.storage.naming import safe_hostname
from debugnet.wire.kdh import Compression
from debugnet.wire.message import MsgType
from tests.serverutil import kdh
from tests.test_server_recorder import Shell

STEPS = ["herald", "key", "kdh", "data", "finished", "links"]
REQUEST = DumpRequest("192.0.2.9", "h", "rack1")


def _swap(root: Path, outside: Path) -> None:
    os.rename(root / "rack1", root / "rack1.moved")
    os.symlink(str(outside), root / "rack1")


@pytest.mark.parametrize("step", STEPS)
def test_a_swapped_subdirectory_never_redirects_a_write(
    tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = tmp_path / "crash", tmp_path / "outside"
    (root / "rack1").mkdir(parents=True)
    outside.mkdir()
    if step == "links":
        real = DumpFiles.link_last

        def swap_then_link(files: DumpFiles) -> None:
            _swap(root, outside)
            real(files)

        monkeypatch.setattr(DumpFiles, "link_last", swap_then_link)
    shell = Shell(DirectoryStore(root), request=REQUEST)
    if step == "herald":
        _swap(root, outside)
    assert shell.recorder.open()
    for when, message, data in [
        ("key", MsgType.EKCD_KEY, b"key"),
        ("kdh", MsgType.KDH, kdh(6, compression=Compression.GZIP)),
        ("data", MsgType.DATA, b"abcdef"),
        ("finished", MsgType.FINISHED, b""),
    ]:
        if step == when:
            _swap(root, outside)
        shell.send(message, data)
    shell.recorder.close()
    assert list(outside.iterdir()) == []
    home = root if step == "herald" else root / "rack1.moved"  # a symlink at the herald: default
    assert (home / "vmcore.h.0.gz").read_bytes() == b"abcdef"
    assert (home / "key.h.0").read_bytes() == b"key"
    assert (home / "info.h.0").read_text().endswith("Dump complete\n")
    assert os.readlink(home / "vmcore.h.last") == "vmcore.h.0.gz"
    assert (home / "bounds.h").read_text() == "1\n"


def test_a_file_name_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    """A planted ``key.h.0`` or ``bounds.h`` symlink is neither written through nor read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "crash").mkdir()
    os.symlink(str(outside / "bounds"), tmp_path / "crash" / "bounds.h")
    (outside / "bounds").write_text("7\n")
    files = DirectoryStore(tmp_path / "crash").create(DumpRequest("192.0.2.9", "h"))
    assert files.index == 0  # the planted hint was not read
    os.symlink(str(outside / "key"), tmp_path / "crash" / "key.h.0")
    with pytest.raises(Exception, match="File exists"):
        files.write_key(0, b"k")
    files.close()
    assert sorted(p.name for p in outside.iterdir()) == ["bounds"]
    assert (outside / "bounds").read_text() == "7\n"


def test_the_walk_follows_only_links_that_stay_inside(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    os.symlink("a/b", tmp_path / "inside")
    os.symlink("inside", tmp_path / "chain")
    os.symlink("loop", tmp_path / "loop")
    os.symlink(str(tmp_path / "a"), tmp_path / "absolute")
    with DirHandle.open(tmp_path) as root:
        for good in ["a/b", "inside", "chain", "./a"]:
            found = root.walk(good)
            assert found is not None, good
            assert (
                os.path.samestat(os.fstat(found.fd), os.stat(tmp_path / "a" / "b")) or good == "./a"
            )
            found.close()
        for bad in ["loop", "absolute", "absolute/b", "../x", "/etc", "a/../a", "missing", ""]:
            assert root.walk(bad) is None, bad


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("crash.example.org", "crash"),
        ("web_01.example", "web_01"),
        ("-rf.example.org", "192.0.2.1"),
        ("-rf", "192.0.2.1"),
        (".hidden", "192.0.2.1"),
        ("a" * 63 + ".example", "a" * 63),
        ("a" * 64 + ".example", "192.0.2.1"),
        ("bad/name", "192.0.2.1"),
        ("tab\tname", "192.0.2.1"),
        ("ünïcode", "192.0.2.1"),
    ],
)
def test_host_names_for_file_names(name: str, expected: str) -> None:
    assert safe_hostname(name, "192.0.2.1") == expected
