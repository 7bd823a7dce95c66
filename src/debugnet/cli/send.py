"""`debugnet send`: a file, block device or standard input to a dump server."""

from __future__ import annotations

import argparse
import math
import socket
import sys

from debugnet.cli.progressbar import Progress
from debugnet.errors import ConnectionReset, InvalidArgument, TimedOut


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--server", required=True, help="dump server address")
    parser.add_argument(
        "-c", "--client", help="local address to send from (default: the route's source)"
    )
    parser.add_argument("-p", "--path", help="directory on the server, relative to its dump dir")
    parser.add_argument("--panic", default="debugnet send", help="panic string for the header")
    parser.add_argument("--compress", choices=["gzip", "zstd"], help="compress the dump")
    parser.add_argument("--mode", choices=["window", "seed"], default="window")
    parser.add_argument("--window", type=int, default=256, help="packets in flight at most")
    parser.add_argument("--port", type=int, default=20023, help="server's herald port")
    parser.add_argument(
        "--timeout",
        type=float,
        help="give up after this many seconds without an ack (default: the kernel's 12 s)",
    )
    parser.add_argument("file", metavar="FILE|-", help="what to send; - for standard input")
    parser.set_defaults(command="send")


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


def run(args: argparse.Namespace) -> int:
    from debugnet.netdump.send import send_dump
    from debugnet.netdump.source import open_source

    if not 0 < args.port < 65536:
        raise InvalidArgument(f"port {args.port} out of range")
    if args.window < 1:
        raise InvalidArgument("--window must be at least 1")
    if args.timeout is not None and not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise InvalidArgument(f"--timeout {args.timeout}: must be a positive number of seconds")
    from debugnet.transport.config import Mode, TransportConfig

    mode = Mode(args.mode)
    config = TransportConfig(mode=mode, window=args.window, budget=args.timeout)
    if args.timeout is not None and mode is Mode.SEED:
        # Keep the kernel's rounds and shorten each: (nretries + 2) rounds in all.
        per_round = args.timeout / (config.nretries + 2) / config.poll_interval
        config = TransportConfig(mode=mode, npolls=max(int(per_round) - 1, 1))
    client = args.client or route_source(args.server)
    bar = Progress(sys.stderr, compressing=bool(args.compress)) if sys.stderr.isatty() else None
    with open_source(args.file) as src:
        try:
            result = send_dump(
                args.server,
                src.stream,
                client=client,
                path=args.path,
                panic=args.panic,
                compress=args.compress,
                config=config,
                server_port=args.port,
                progress=bar,
            )
        except TimedOut as exc:
            raise TimedOut(f"no answer from {args.server} port {args.port}: {exc}") from None
        except ConnectionReset as exc:
            raise ConnectionReset(f"{args.server} closed the connection: {exc}") from None
        finally:
            if bar is not None:
                bar.end()
    comp = f", {args.compress} {result.bytes_read} -> {result.bytes_sent}" if args.compress else ""
    print(
        f"sent {src.name} ({result.bytes_sent} bytes{comp}) to {args.server} "
        f"port {args.port} in {result.seconds:.2f} s, {result.mbps:.1f} MB/s, "
        f"{args.mode} mode, {result.retransmissions} retransmissions"
    )
    return 0
