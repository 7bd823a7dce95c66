"""`debugnet netgdb-proxy`: bridge panicked kernels' netgdb to gdb's ``target remote``."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import signal
import sys
from types import FrameType

from debugnet.cli.argtypes import address
from debugnet.errors import InvalidArgument


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bind", type=address, default="0.0.0.0", help="herald address (default: all)"
    )
    parser.add_argument("--port", type=int, default=20025, help="herald port (default: 20025)")
    parser.add_argument(
        "--gdb-bind",
        type=address,
        default="127.0.0.1",
        help="address gdb connects to (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--gdb-port",
        type=int,
        default=20026,
        help="first session's gdb port; concurrent sessions take the next free (default: 20026)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="CIDR",
        help="accept heralds only from this network (repeatable; default: all, logged)",
    )
    parser.add_argument("--mtu", type=int, default=1500, help="sizes messages to the kernel")
    parser.add_argument(
        "--timeout",
        type=float,
        help="end a session after this many seconds of silence from the kernel (default: never)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def _networks(specs: list[str] | None) -> tuple[ipaddress.IPv4Network, ...] | None:
    if not specs:
        return None
    nets = []
    for spec in specs:
        try:
            nets.append(ipaddress.IPv4Network(spec, strict=False))
        except ValueError as exc:
            raise InvalidArgument(f"--allow {spec!r}: {exc}") from None
    return tuple(nets)


def run(args: argparse.Namespace) -> int:
    from debugnet.netgdb.proxy import NetgdbProxy, ProxyAddresses
    from debugnet.netgdb.proxy_core import ProxyConfig
    from debugnet.transport.duplex_config import DuplexConfig

    for name in ("port", "gdb_port"):
        if not 0 <= getattr(args, name) < 65536:
            raise InvalidArgument(f"--{name.replace('_', '-')} {getattr(args, name)} out of range")
    if args.timeout is not None and not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise InvalidArgument(f"--timeout {args.timeout}: must be a positive number of seconds")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    duplex = DuplexConfig(mtu=args.mtu, timeout=args.timeout)
    allow = _networks(args.allow)
    config = ProxyConfig(duplex=duplex) if allow is None else ProxyConfig(allow, duplex)
    addresses = ProxyAddresses(args.bind, args.port, args.gdb_bind, args.gdb_port)
    proxy = NetgdbProxy(addresses, config)
    proxy.open()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        proxy.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        proxy.serve_forever()
    finally:
        proxy.close()
    print(f"netgdb proxy: {len(proxy.finished)} sessions", file=sys.stderr)
    return 0
