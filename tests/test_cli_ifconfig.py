import subprocess
import sys

import pytest

from debugnet.cli import main
from tests.test_devices_support import NetNs, ip, veth

__all__ = ["veth"]


def test_ifconfig_shows_loopback_in_the_familiar_layout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ifconfig", "lo"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("lo: flags=") and "<UP,LOOPBACK,RUNNING>" in lines[0]
    assert " mtu " in lines[0]
    assert "\tinet 127.0.0.1 netmask 0xff000000" in lines
    assert any(line.startswith("\tindex ") and "link state" in line for line in lines)
    assert any(line.startswith("\tRX packets ") for line in lines)
    assert any(line.startswith("\tTX packets ") and "collisions" in line for line in lines)


def test_missing_interface_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ifconfig", "dnnosuch0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "debugnet ifconfig: interface dnnosuch0 does not exist"
    ]


@pytest.mark.root
def test_down_interfaces_only_with_dash_a(
    veth: tuple[str, NetNs], capsys: pytest.CaptureFixture[str]
) -> None:
    ours, _ = veth
    ip("link", "set", ours, "down")
    assert main(["ifconfig"]) == 0
    assert f"{ours}: " not in capsys.readouterr().out
    assert main(["ifconfig", "-a"]) == 0
    out = capsys.readouterr().out
    block = out.split(f"{ours}: ", 1)[1].split("\n\n", 1)[0]
    assert block.startswith("flags=") and "BROADCAST" in block and "UP" not in block.split(">")[0]
    assert "\tether " in block and "link state DOWN" in block


def test_the_installed_command_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "debugnet", "ifconfig", "-a"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "lo: flags=" in proc.stdout
