"""Start-up checks of the dump directory: one line and a non-zero exit, never "listening".

Root ignores mode bits, so as root an unwritable directory is a read-only
tmpfs mounted in a private mount namespace (``unshare -m``: nothing to clean
up on the host); otherwise mode 0555 does it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from debugnet.errors import ErrnoError
from debugnet.storage.dumpdir import check_dump_dir

IS_ROOT = os.geteuid() == 0


def _serve(dumpdir: Path, *, readonly: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``debugnet serve --dir dumpdir``; as root ``readonly`` is a read-only tmpfs first."""
    argv = [sys.executable, "-m", "debugnet", "serve", "--dir", str(dumpdir)]
    argv += ["--bind", "127.0.0.1", "--port", "0", "--no-resolve"]
    if readonly is not None and IS_ROOT:
        if shutil.which("unshare") is None:
            pytest.skip("unshare(1) not installed: cannot mount a read-only tmpfs privately")
        mount = f'mount -t tmpfs -o ro,size=64k none "{readonly}" && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh", *argv]
    elif readonly is not None:
        readonly.chmod(0o555)
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)
    finally:
        if readonly is not None and not IS_ROOT:
            readonly.chmod(0o755)


def _assert_one_line_refusal(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "listening" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("debugnet serve: dump directory ")
    for word in words:
        assert word in lines[0]


def test_unwritable_dump_dir_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    proc = _serve(ro, readonly=ro)
    _assert_one_line_refusal(proc, str(ro), "cannot create files in it")


def test_dump_dir_with_unwritable_parent_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    proc = _serve(ro / "crash" / "deeper", readonly=ro)
    _assert_one_line_refusal(proc, str(ro / "crash" / "deeper"), "cannot create it")


def test_dump_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("not a directory\n")
    proc = _serve(plain)
    _assert_one_line_refusal(proc, "is not a directory")
    under = _serve(plain / "crash")  # a file as the parent: mkdir fails with ENOTDIR
    _assert_one_line_refusal(under, "cannot create it", "Not a directory")


def test_netdumpd_refuses_a_file_as_dump_dir(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    argv = [sys.executable, "-m", "debugnet.cli.netdumpd", "-D", "-d", str(plain)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"netdumpd: dump directory {plain} is not a directory"


def test_check_leaves_nothing_behind_and_creates_missing_dirs(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert check_dump_dir(target, create=True) == target
    assert target.is_dir() and list(target.iterdir()) == []


def test_check_without_create_does_not_make_the_dir(tmp_path: Path) -> None:
    with pytest.raises(ErrnoError, match="does not exist"):
        check_dump_dir(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()
