"""The C programs in ../shared/floor, built with gcc for interop tests (never shipped)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FLOOR_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "floor"


def build_floor(name: str, out: Path) -> Path:
    """Compile ``../shared/floor/<name>.c`` into ``out``; skip, visibly, without gcc or source."""
    gcc = shutil.which("gcc")
    source = FLOOR_DIR / f"{name}.c"
    if gcc is None or not source.exists():
        pytest.skip(f"gcc or {source} not available (.ci/run installs gcc)")
    binary = out / name
    subprocess.run([gcc, "-O2", "-o", str(binary), str(source)], check=True)
    return binary
