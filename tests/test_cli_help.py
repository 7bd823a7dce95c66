"""What a user sees first: the command list and netdumpd's flags."""

from __future__ import annotations

import re
import subprocess
import sys

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
