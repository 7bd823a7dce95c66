"""`debugnet netdump -s SERVER [-g GATEWAY] [-c CLIENT] [-i IFACE] FILE|-`: ddb's netdump line.

The four flags are read exactly as the kernel debugger's ``netdump``
command reads them (transport/options.py: order free, dotted quads, EDOM for
an octet above 255, the interface must exist); what is left out is inferred
from the host's routes. Always the raw path.
"""

from __future__ import annotations

import argparse

from debugnet.cli.send import add_common, check_common, deliver


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", dest="server", required=True, help="dump server address")
    parser.add_argument("-g", dest="gateway", help="gateway, when the server is off-link")
    parser.add_argument("-c", dest="client", help="our address (default: the route's source)")
    parser.add_argument("-i", dest="interface", help="interface (default: the route's)")
    add_common(parser)
    parser.set_defaults(command="netdump")


def ddb_line(args: argparse.Namespace) -> str:
    """The flags as ddb would have been given them."""
    words = ["-s", args.server]
    for flag, value in (("-g", args.gateway), ("-c", args.client), ("-i", args.interface)):
        if value is not None:
            words += [flag, value]
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    from debugnet.inet.rawpath import infer_from_host, interface_exists
    from debugnet.transport.options import parse_ddb_options

    check_common(args)
    ddb = parse_ddb_options(ddb_line(args), interface_exists, "netdump")
    return deliver(args, infer_from_host(ddb))
