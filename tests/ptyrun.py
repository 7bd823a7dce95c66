"""Running a command with its stderr on a pseudo-terminal of a chosen width."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios


def run_on_pty(columns: int, argv: list[str]) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """Run ``argv`` with stderr on a ``columns``-wide terminal: its exit and what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        slave = -1
        screen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the slave side is closed
                break
            if not chunk:
                break
            screen += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return res, screen.decode()
