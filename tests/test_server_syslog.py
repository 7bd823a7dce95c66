"""``--syslog`` with and without a syslog daemon."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from debugnet.server.app import SYSLOG_ADDRESSES, setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_no_daemon_falls_back_to_stderr_with_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    nowhere = (str(tmp_path / "dev-log"), str(tmp_path / "var-run-log"))
    setup_logging("info", use_syslog=True, syslog_addresses=nowhere)
    for n in range(3):
        logging.getLogger("debugnet.test").info("record %d", n)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"warning: no syslog daemon at {nowhere[0]}, {nowhere[1]}; logging to stderr"
    assert [line.split(": ", 1)[1] for line in err[1:]] == ["record 0", "record 1", "record 2"]


def test_a_listening_daemon_gets_the_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(str(tmp_path / "log"))
    daemon.settimeout(5)
    try:
        addresses = (str(tmp_path / "missing"), str(tmp_path / "log"))
        setup_logging("info", use_syslog=True, syslog_addresses=addresses)
        logging.getLogger("debugnet.test").warning("to syslog")
        record = daemon.recv(4096).decode()
    finally:
        daemon.close()
    assert record.startswith("<28>")  # LOG_DAEMON (3) * 8 + LOG_WARNING (4)
    assert record.rstrip("\0").endswith(f"netdumpd[{os.getpid()}]: to syslog")
    assert capsys.readouterr().err == ""


def _free_port() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@pytest.mark.root
def test_serve_without_syslog_daemon_logs_to_stderr(tmp_path: Path) -> None:
    """The command line with every syslog socket hidden by a private mount namespace."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to hide the syslog sockets")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "empty-file").write_text("")
    hide = " ".join(
        f"if [ -d {p} ]; then mount --bind {tmp_path / 'empty-dir'} {p}; "
        f"elif [ -e {p} ]; then mount --bind {tmp_path / 'empty-file'} {p}; fi;"
        for p in SYSLOG_ADDRESSES
    )
    serve = [sys.executable, "-u", "-m", "debugnet", "serve", "--syslog", "--no-resolve"]
    serve += ["--dir", str(tmp_path / "crash"), "--bind", "127.0.0.1", "--port", _free_port()]
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide + ' exec "$@"']
    proc = subprocess.Popen(
        [*argv, "sh", *serve], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert "listening on udp 127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    lines = err.splitlines()
    assert (
        lines[0] == f"warning: no syslog daemon at {', '.join(SYSLOG_ADDRESSES)}; logging to stderr"
    )
    assert "Logging error" not in err
    assert any("signal 15: ending open sessions" in line for line in lines[1:])
