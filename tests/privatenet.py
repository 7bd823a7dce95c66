"""Run the whole test session in a network namespace of its own (when root).

Tests bind the fixed debugnet ports (20023 for heralds, 20024 for the
client's acks) on 127.x addresses. A ``debugnet serve`` left running on the
host holds 20023 on every 127.x address through its wildcard bind, so on the
host's loopback no test could find a free address. In a private namespace
127.0.0.0/8 belongs to this test run alone.

The namespace is created under a per-run name (``dntest-<pid>``), entered by
the main thread before any test thread or subprocess exists (threads and
children inherit it), with a mount namespace whose /sys shows it, and its
name is removed at once: the namespace lives
exactly as long as this process, so nothing is left behind even if the run
is killed. Tests that make their own namespaces and veth pairs work the same
from inside it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading

_CLONE_NEWNET = 0x40000000
_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_SLAVE = 0x80000
PREFIX = "dntest-"


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _own_sysfs(libc: ctypes.CDLL) -> None:
    """A private mount namespace with a /sys of the new network namespace.

    sysfs shows the interfaces of the namespace that mounted it, and code
    under test reads /sys/class/net. Mounts of the host still reach us
    (slave propagation); ours never reach the host.
    """
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_SLAVE, None), "mount --make-rslave /")
    _check(libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount sysfs /sys")


def why_not_private() -> str | None:
    """None when a private namespace can be made, else the reason it cannot."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no ip(8)"
    if threading.active_count() > 1:
        return "threads already running (a mount namespace needs a single thread)"
    return None


def enter_private_netns() -> str:
    """Move this process (its main thread, before other threads exist) to a new namespace.

    On failure the process is back in the namespace it started in and the
    error is raised, so the caller can run on the host's network instead.
    """
    name = f"{PREFIX}{os.getpid()}"
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        try:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _check(libc.setns(fd, _CLONE_NEWNET), "setns(CLONE_NEWNET)")
            finally:
                os.close(fd)
        finally:
            # Only the name goes (still in the host's mount namespace): the
            # network namespace stays while this process is in it.
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
        try:
            _own_sysfs(libc)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            _check(libc.setns(home, _CLONE_NEWNET), "setns back")
            raise
    finally:
        os.close(home)
    return name
