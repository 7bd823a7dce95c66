"""Filling in what the user left out from the host's routing table (000:646-691).

A missing client address, gateway or interface comes from the route to the
server: the client is the route's preferred source, the gateway its IPv4
gateway (none when on-link), the interface its output interface. When the
user names an interface the route does not use, nothing is taken from the
route. With ``-i`` and ``-c`` given and no usable route (the rescue case:
the interface has no address), the server is taken as on-link. ENOENT only
when the interface or client address still cannot be known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from debugnet.devices.route import HostRoute
from debugnet.errors import NoEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawTarget:
    """Everything the raw path needs to reach a server."""

    server: IPv4Address
    interface: str
    client: IPv4Address
    gateway: IPv4Address | None


def infer_target(
    server: IPv4Address,
    *,
    client: IPv4Address | None,
    gateway: IPv4Address | None,
    interface: str | None,
    route: Callable[[IPv4Address], HostRoute | None],
    name_of: Callable[[int], str],
) -> RawTarget:
    """The complete target; the route is consulted only if something is missing."""
    if interface is not None and client is not None and gateway is not None:
        return RawTarget(server, interface, client, gateway)
    found = route(server)
    route_if = name_of(found.oif) if found is not None and found.oif else None
    usable = found is not None and (interface is None or route_if == interface)
    if found is not None and not usable:
        log.debug("route to %s leaves by %s, not %s: not used", server, route_if, interface)
    if usable and found is not None:
        interface = interface or route_if
        client = client or found.prefsrc
        if gateway is None:
            gateway = found.gateway
    missing = [
        n for n, v in (("interface (-i)", interface), ("client address (-c)", client)) if v is None
    ]
    if missing or interface is None or client is None:
        raise NoEntry(
            f"could not get a route to server {server} to infer the {' and '.join(missing)}; "
            "give them on the command line"
        )
    if gateway is None:
        log.debug("server %s taken as on-link on %s", server, interface)
    return RawTarget(server, interface, client, gateway)
