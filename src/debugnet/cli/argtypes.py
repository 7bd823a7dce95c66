"""Argument types shared by the commands, so a slip gets the same one-line answer everywhere."""

from __future__ import annotations

import argparse
import ipaddress


def address(text: str) -> str:
    """An address to bind (a name or an IP), never ``ADDR:PORT``: each command has ``--port``.

    Without this, ``--bind 127.0.0.1:8080`` reached the resolver or the
    auth check and failed there with a message about something else.
    """
    host, colon, port = text.rpartition(":")
    if colon and port.isdigit():
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is an address with a port: give {host!r} here and the port with --port"
            ) from None
    return text
