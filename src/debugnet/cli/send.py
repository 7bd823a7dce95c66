"""`debugnet send`: a file, block device or standard input to a dump server.

Over a UDP socket by default; with ``--raw`` over the client's own
Ethernet/ARP/IPv4/UDP on a packet socket, for a host whose network stack is
not configured (needs CAP_NET_RAW).
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING

from debugnet.cli.progressbar import Progress
from debugnet.errors import ConnectionReset, InvalidArgument, NoEntry, TimedOut

if TYPE_CHECKING:
    from debugnet.inet.infer import RawTarget
    from debugnet.netdump.encrypt import DumpEncryption


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--server", required=True, help="dump server address")
    parser.add_argument(
        "-c", "--client", help="local address to send from (default: the route's source)"
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="speak Ethernet/ARP/IPv4/UDP ourselves on a packet socket (needs CAP_NET_RAW)",
    )
    parser.add_argument("-i", "--interface", help="--raw: interface (default: the route's)")
    parser.add_argument("-g", "--gateway", help="--raw: next hop when the server is off-link")
    add_common(parser)
    parser.set_defaults(command="send")


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options shared by `send` and `netdump`."""
    parser.add_argument("-p", "--path", help="directory on the server, relative to its dump dir")
    parser.add_argument("--panic", default="debugnet send", help="panic string for the header")
    parser.add_argument("--compress", choices=["gzip", "zstd"], help="compress the dump")
    parser.add_argument(
        "--encrypt",
        type=Path,
        metavar="PUBKEY.pem",
        help="encrypt as the kernel does after 'dumpon -k' (RSA public key, PEM)",
    )
    parser.add_argument(
        "--cipher",
        choices=["chacha20", "aes-256-cbc"],
        help="cipher for --encrypt (default chacha20; aes-256-cbc refuses --compress)",
    )
    parser.add_argument("--mode", choices=["window", "seed"], default="window")
    parser.add_argument("--window", type=int, default=256, help="packets in flight at most")
    parser.add_argument("--port", type=int, default=20023, help="server's herald port")
    parser.add_argument(
        "--timeout",
        type=float,
        help="give up after this many seconds without an ack (default: the kernel's 12 s)",
    )
    parser.add_argument("file", metavar="FILE|-", help="what to send; - for standard input")


def route_source(server: str) -> str:
    """The address the host would send from to reach ``server`` (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((server, 20023))
        address: str = probe.getsockname()[0]
        return address
    except OSError as exc:
        raise InvalidArgument(f"no route to server {server}: {exc.strerror}") from None
    finally:
        probe.close()


def ipv4_arg(text: str | None, what: str) -> IPv4Address | None:
    if text is None:
        return None
    try:
        return IPv4Address(socket.gethostbyname(text))
    except (OSError, ValueError, UnicodeError):
        raise InvalidArgument(f"{what} {text!r} is not an IPv4 address or known host") from None


def raw_target(args: argparse.Namespace) -> RawTarget:
    """What ``--raw`` sends to: the options, the rest inferred from the host's routes."""
    from debugnet.inet.rawpath import infer_from_host
    from debugnet.transport.options import DdbConfig

    server = ipv4_arg(args.server, "server")
    assert server is not None
    ddb = DdbConfig(
        server, ipv4_arg(args.client, "client"), ipv4_arg(args.gateway, "gateway"), args.interface
    )
    return infer_from_host(ddb)


def run(args: argparse.Namespace) -> int:
    if not args.raw and (args.interface is not None or args.gateway is not None):
        raise InvalidArgument("-i and -g choose the raw path's interface and gateway: add --raw")
    check_common(args)
    if args.raw:
        return deliver(args, raw_target(args))
    return deliver(args, None)


def check_common(args: argparse.Namespace) -> None:
    if not 0 < args.port < 65536:
        raise InvalidArgument(f"port {args.port} out of range")
    if args.window < 1:
        raise InvalidArgument("--window must be at least 1")
    if args.timeout is not None and not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise InvalidArgument(f"--timeout {args.timeout}: must be a positive number of seconds")


def encryption_for(args: argparse.Namespace) -> DumpEncryption | None:
    """The key and cipher for --encrypt; cryptography is imported only then."""
    public, cipher = getattr(args, "encrypt", None), getattr(args, "cipher", None)
    if public is None:
        if cipher is not None:
            raise InvalidArgument("--cipher needs --encrypt PUBKEY.pem")
        return None
    from debugnet.netdump.encrypt import CIPHERS, make_encryption

    try:
        pem = public.read_bytes()
    except OSError as exc:
        raise NoEntry(f"{public}: {exc.strerror}") from None
    try:
        return make_encryption(pem, CIPHERS[cipher or "chacha20"], compressed=bool(args.compress))
    except InvalidArgument as exc:
        raise InvalidArgument(f"--encrypt {public}: {exc}") from None


def deliver(args: argparse.Namespace, raw: RawTarget | None) -> int:
    """Send the dump over the UDP socket, or over the raw path to ``raw``."""
    from debugnet.netdump.send import send_dump
    from debugnet.netdump.source import open_source
    from debugnet.transport.config import Mode, TransportConfig

    mode = Mode(args.mode)
    config = TransportConfig(mode=mode, window=args.window, budget=args.timeout)
    if args.timeout is not None and mode is Mode.SEED:
        # Keep the kernel's rounds and shorten each: (nretries + 2) rounds in all.
        per_round = args.timeout / (config.nretries + 2) / config.poll_interval
        config = TransportConfig(mode=mode, npolls=max(int(per_round) - 1, 1))
    encryption = encryption_for(args)
    server = str(raw.server) if raw is not None else args.server
    client = "" if raw is not None else (args.client or route_source(args.server))
    bar = Progress(sys.stderr, compressing=bool(args.compress)) if sys.stderr.isatty() else None
    with open_source(args.file) as src:
        try:
            result = send_dump(
                server,
                src.stream,
                client=client,
                path=args.path,
                panic=args.panic,
                compress=args.compress,
                encryption=encryption,
                config=config,
                server_port=args.port,
                progress=bar,
                raw=raw,
            )
        except TimedOut as exc:
            raise TimedOut(f"no answer from {server} port {args.port}: {exc}") from None
        except ConnectionReset as exc:
            raise ConnectionReset(f"{server} closed the connection: {exc}") from None
        finally:
            if bar is not None:
                bar.end()
    comp = f", {args.compress} {result.bytes_read} -> {result.bytes_sent}" if args.compress else ""
    if encryption is not None:
        comp += f", encrypted ({args.cipher or 'chacha20'})"
    via = ""
    if raw is not None:
        hop = f" via {raw.gateway}" if raw.gateway is not None else ""
        via = f" raw on {raw.interface} from {raw.client}{hop},"
    print(
        f"sent {src.name} ({result.bytes_sent} bytes{comp}) to {args.server} "
        f"port {args.port} in {result.seconds:.2f} s, {result.mbps:.1f} MB/s,{via} "
        f"{args.mode} mode, {result.retransmissions} retransmissions"
    )
    return 0
