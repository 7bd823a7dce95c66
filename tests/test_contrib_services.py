"""The service files in contrib/: the systemd unit and the FreeBSD rc.d script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from debugnet.cli.netdumpd import build_parser

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
UNIT = CONTRIB / "systemd" / "debugnet-serve.service"
RC = CONTRIB / "freebsd" / "netdumpd"


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_is_sandboxed() -> None:
    d = _directives(UNIT.read_text())
    assert d["ProtectSystem"] == ["strict"]
    assert d["NoNewPrivileges"] == ["yes"] and d["PrivateTmp"] == ["yes"]
    assert d["User"] == ["debugnet"]
    assert d["CapabilityBoundingSet"] == [""] and d["AmbientCapabilities"] == [""]
    dumpdir = re.search(r"--dir (\S+)", d["ExecStart"][0])
    assert dumpdir is not None and d["ReadWritePaths"] == [dumpdir.group(1)]
    port = re.search(r"--port (\d+)", d["ExecStart"][0])
    assert port is not None and int(port.group(1)) >= 1024  # so no CAP_NET_BIND_SERVICE


def _installed_unit(tmp_path: Path) -> Path:
    """The unit as installed: ExecStart pointing at this environment's debugnet."""
    exe = Path(sys.executable).parent / "debugnet"
    if not exe.exists():
        pytest.skip(f"no debugnet entry point beside {sys.executable}")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/debugnet/bin/debugnet", str(exe)))
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: the unit is not verified")
    unit = _installed_unit(tmp_path)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    about_ours = [line for line in (proc.stdout + proc.stderr).splitlines() if unit.stem in line]
    assert proc.returncode == 0 and about_ours == [], proc.stdout + proc.stderr


def test_unit_exposure_is_low(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: the unit's exposure is not scored")
    unit = _installed_unit(tmp_path)
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if proc.returncode != 0 and "offline" in proc.stderr:
        pytest.skip(f"systemd-analyze security has no --offline here: {proc.stderr.strip()}")
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    assert score is not None, proc.stdout + proc.stderr
    assert float(score.group(1)) <= 2.0  # systemd rates up to 3.9 as "OK"


def test_rc_script_runs_netdumpd_with_its_flags(tmp_path: Path) -> None:
    """rc.subr stands in with a stub that prints what run_rc_command would use."""
    stub = tmp_path / "rc.subr"
    stub.write_text(
        "load_rc_config() { :; }\n"
        'run_rc_command() { printf "%s\\n" "$1" "$command" "$command_interpreter" '
        '"$pidfile" "$command_args" "$required_dirs"; }\n'
    )
    program = tmp_path / "netdumpd"
    program.write_text(f"#!{sys.executable}\nimport sys\n")
    script = RC.read_text().replace(". /etc/rc.subr", f". {stub}")
    env = {"PATH": "/usr/bin:/bin", "netdumpd_dumpdir": "/srv/crash"}
    env["netdumpd_program"] = str(program)
    proc = subprocess.run(
        ["sh", "-c", script, "netdumpd", "start"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    verb, command, interpreter, pidfile, args, required = proc.stdout.splitlines()
    assert (verb, command, interpreter) == ("start", str(program), sys.executable)
    assert pidfile == "/var/run/netdumpd.pid" and required == "/srv/crash"
    parsed = build_parser().parse_args(args.split())
    assert (parsed.dir, parsed.pidfile, parsed.foreground) == ("/srv/crash", pidfile, False)


def test_rc_script_is_valid_sh() -> None:
    assert subprocess.run(["sh", "-n", str(RC)], timeout=30).returncode == 0
