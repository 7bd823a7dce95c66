"""Loopback addresses for tests that bind the fixed debugnet ports.

Other test runs may use 127.0.0.1:20024 at the same time, so each test takes
its own 127.0.0.N and checks that the ports it needs are free there.
"""

from __future__ import annotations

import random
import socket

_rng = random.Random()


class NoFreeLoopback(RuntimeError):
    """Every 127.x address tried has one of the ports taken (a wildcard bind holds them all).

    The test session turns this into a skip (tests/conftest.py): it happens only
    outside a private network namespace, i.e. when the tests do not run as root.
    """


def free_loopback(ports: tuple[int, ...] = (20023, 20024), avoid: set[str] | None = None) -> str:
    for _ in range(200):
        ip = f"127.0.{_rng.randint(1, 254)}.{_rng.randint(2, 254)}"
        if avoid and ip in avoid:
            continue
        socks = []
        try:
            for port in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((ip, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return ip
    wanted = "/".join(map(str, ports))
    raise NoFreeLoopback(
        f"port {wanted} is taken on every loopback address tried (a server bound to the "
        "wildcard address, e.g. a running `debugnet serve`?); as root the tests run in a "
        "private network namespace instead"
    )
