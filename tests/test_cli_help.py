"""What a user sees first: the command list and netdumpd's flags."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from debugnet.cli import SUBCOMMANDS


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)


def test_debugnet_without_arguments_lists_its_commands() -> None:
    proc = _run("-m", "debugnet")
    assert proc.returncode == 2  # a usage error, as argparse exits for missing arguments
    assert proc.stdout == ""
    assert proc.stderr.startswith("usage: debugnet ")
    for name, text in SUBCOMMANDS.items():
        assert re.search(rf"^\s+{name}\s+{re.escape(text)}$", proc.stderr, re.M), name


def test_netdumpd_help_describes_every_flag() -> None:
    proc = _run("-m", "debugnet.cli.netdumpd", "-h")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for flag, words in {
        "-a addr": "bind the daemon to the given address",
        "-D": "debug mode: stay in the foreground",
        "-d dumpdir": "save crash dumps in dumpdir (default: /var/crash)",
        "-i script": "run script after each dump",
        "-P pidfile": "store the process ID in pidfile (default: /var/run/netdumpd.pid)",
        "-p defaultpath": "directory under dumpdir",
    }.items():
        assert f"{flag} {words}" in text, flag
    described = re.findall(r"^  (-\w)(?: \w+)?\s+\S", proc.stdout, re.M)
    assert sorted(described) == sorted(["-a", "-D", "-d", "-i", "-P", "-p"])


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path) -> None:
    """`debugnet dumps list | head -1`: the reader leaves early; no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "debugnet", "dumps", "--dir", str(tmp_path), "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes a byte
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # as a shell reports a command ended by SIGPIPE
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_bind_with_a_port_is_refused_naming_the_port_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from debugnet.cli import main

    for command in ("serve", "web", "netgdb-proxy"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--bind", "127.0.0.1:8080"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2
        assert "give '127.0.0.1' here and the port with --port" in err.splitlines()[-1]


def test_bind_takes_names_and_ipv6_addresses() -> None:
    from debugnet.cli.argtypes import address

    for text in ("0.0.0.0", "::1", "fe80::1", "2001:db8::8080", "localhost", "collector-1"):
        assert address(text) == text
