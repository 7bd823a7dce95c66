"""The test helpers' view of the loopback network."""

from __future__ import annotations

import os
import socket

import pytest

from tests.netutil import NoFreeLoopback, free_loopback


def test_a_wildcard_bind_leaves_no_loopback_address() -> None:
    """What a running `debugnet serve` does to the host: every 127.x has the port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("0.0.0.0", 0))
        port = held.getsockname()[1]
        with pytest.raises(NoFreeLoopback, match=f"port {port} is taken on every loopback"):
            free_loopback((port,))
    assert free_loopback((port,)).startswith("127.")


@pytest.mark.root
def test_the_session_has_its_own_network_namespace() -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: the session runs in the host's network namespace")
    assert os.readlink("/proc/self/ns/net") != os.readlink(
        f"/proc/{os.getppid()}/ns/net"
    )  # whoever started pytest
    with open("/sys/class/net/lo/operstate") as lo:  # this namespace's /sys, lo brought up
        assert lo.read().strip() in ("unknown", "up")
    assert sorted(os.listdir("/sys/class/net")) == ["lo"]
