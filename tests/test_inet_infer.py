"""Route inference for the raw path (000:646-691): what is missing comes from the route to
the server; the rescue case (-i and -c, no usable route) is on-link; rtnetlink for real."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from debugnet.devices.route import HostRoute, route_get
from debugnet.errors import NoEntry
from debugnet.inet.infer import RawTarget, infer_target
from tests.test_devices_support import in_ns, ip, make_namespace, require_root, unique_tag

SERVER = IPv4Address("203.0.113.1")
CLIENT = IPv4Address("198.51.100.2")
GW = IPv4Address("198.51.100.1")
NAMES = {2: "eth0", 3: "eth1"}


def infer(found: HostRoute | None, **kw: object) -> RawTarget:
    asked: list[IPv4Address] = []

    def route(dst: IPv4Address) -> HostRoute | None:
        asked.append(dst)
        return found

    args: dict[str, object] = {"client": None, "gateway": None, "interface": None}
    args.update(kw)
    target = infer_target(SERVER, route=route, name_of=NAMES.__getitem__, **args)  # type: ignore[arg-type]
    assert asked in ([], [SERVER])
    return target


VIA_GW = HostRoute(SERVER, 2, GW, CLIENT)
ON_LINK = HostRoute(SERVER, 2, None, CLIENT)


def test_everything_from_the_route() -> None:
    assert infer(VIA_GW) == RawTarget(SERVER, "eth0", CLIENT, GW)
    assert infer(ON_LINK) == RawTarget(SERVER, "eth0", CLIENT, None)


def test_given_values_win_over_the_route() -> None:
    other = IPv4Address("198.51.100.9")
    assert infer(VIA_GW, client=other, gateway=other) == RawTarget(SERVER, "eth0", other, other)


def test_all_given_needs_no_route() -> None:
    def no_lookup(dst: IPv4Address) -> HostRoute | None:
        raise AssertionError("route looked up")

    target = infer_target(
        SERVER, client=CLIENT, gateway=GW, interface="eth1", route=no_lookup, name_of=str
    )
    assert target == RawTarget(SERVER, "eth1", CLIENT, GW)


def test_rescue_case_no_route_is_on_link() -> None:
    assert infer(None, interface="eth1", client=CLIENT) == RawTarget(SERVER, "eth1", CLIENT, None)


def test_a_route_through_another_interface_is_not_used() -> None:
    assert infer(VIA_GW, interface="eth1", client=CLIENT) == RawTarget(SERVER, "eth1", CLIENT, None)
    with pytest.raises(NoEntry, match="client address"):
        infer(VIA_GW, interface="eth1")


def test_enoent_names_what_is_missing() -> None:
    with pytest.raises(NoEntry, match=r"interface \(-i\) and client address \(-c\)"):
        infer(None)
    with pytest.raises(NoEntry, match="client address"):
        infer(None, interface="eth0")
    with pytest.raises(NoEntry, match="interface"):
        infer(None, client=CLIENT)


@pytest.fixture
def netns_with_routes() -> Iterator[str]:
    require_root()
    tag = unique_tag()
    ns = make_namespace(tag)
    try:
        ip("-n", ns, "link", "add", f"dmy{tag}", "type", "veth", "peer", "name", f"dmz{tag}")
        for name in (f"dmy{tag}", f"dmz{tag}"):
            ip("-n", ns, "link", "set", name, "up")
        ip("-n", ns, "addr", "add", f"{CLIENT}/24", "dev", f"dmy{tag}")
        yield ns
    finally:
        ip("netns", "del", ns, check=False)


ROUTE_GET = r"""
import json, sys
from ipaddress import IPv4Address
from debugnet.devices.route import route_get
out = []
for dst in sys.argv[1:]:
    r = route_get(IPv4Address(dst))
    out.append(None if r is None else [r.oif, str(r.gateway), str(r.prefsrc)])
print(json.dumps(out))
"""


@pytest.mark.root
def test_route_get_agrees_with_the_kernel(netns_with_routes: str) -> None:
    import json
    import sys

    ns = netns_with_routes
    line = next(x for x in ip("-n", ns, "-o", "link").stdout.splitlines() if ": dmy" in x)
    index = int(line.split(":")[0])
    first = in_ns(ns, sys.executable, "-c", ROUTE_GET, "198.51.100.7", str(SERVER)).stdout
    assert json.loads(first) == [[index, "None", str(CLIENT)], None]  # no route: None
    ip("-n", ns, "route", "add", "default", "via", str(GW))
    second = in_ns(ns, sys.executable, "-c", ROUTE_GET, str(SERVER)).stdout
    assert json.loads(second) == [[index, str(GW), str(CLIENT)]]


def test_route_get_here_finds_loopback() -> None:
    found = route_get(IPv4Address("127.0.0.1"))
    assert found is not None and found.oif == socket.if_nametoindex("lo")
