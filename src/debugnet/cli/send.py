"""`debugnet send`: a file, block device or standard input to a dump server."""

from __future__ import annotations

import argparse
import math
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from debugnet.errors import ConnectionReset, InvalidArgument, NoEntry, TimedOut

if TYPE_CHECKING:
    from debugnet.netdump.encrypt import DumpEncryption


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--server", required=True, help="dump server address")
    parser.add_argument(
        "-c", "--client", help="local address to send from (default: the route's source)"
    )
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


class Progress:
    """A one-line bar redrawn in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()
        self.width = 0

    def __call__(self, p: object) -> None:
        from debugnet.netdump.client import DumpProgress

        assert isinstance(p, DumpProgress)
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = p.bytes_acked / elapsed
        parts = [f"{p.bytes_acked / 1e6:9.1f} MB"]
        if p.size:
            frac = min(p.bytes_read / p.size, 1.0)
            bar = "#" * int(frac * 20)
            parts.append(f"of {p.size / 1e6:.1f} [{bar:<20}] {frac:4.0%}")
        parts.append(f"{rate / 1e6:6.1f} MB/s  retrans {p.retransmissions}")
        if p.size and rate > 0:
            left = max(p.size - p.bytes_read, 0) / rate
            parts.append(f"ETA {int(left) // 60}:{int(left) % 60:02d}")
        line = "  ".join(parts)
        pad = max(self.width - len(line), 0)
        self.width = len(line)
        self.out.write("\r" + line + " " * pad)
        self.out.flush()

    def end(self) -> None:
        if self.width:
            self.out.write("\n")
            self.out.flush()


def encryption_for(args: argparse.Namespace) -> DumpEncryption | None:
    """The key and cipher for --encrypt; cryptography is imported only then."""
    if args.encrypt is None:
        if args.cipher is not None:
            raise InvalidArgument("--cipher needs --encrypt PUBKEY.pem")
        return None
    from debugnet.netdump.encrypt import CIPHERS, make_encryption

    try:
        pem = args.encrypt.read_bytes()
    except OSError as exc:
        raise NoEntry(f"{args.encrypt}: {exc.strerror}") from None
    algorithm = CIPHERS[args.cipher or "chacha20"]
    try:
        return make_encryption(pem, algorithm, compressed=args.compress is not None)
    except InvalidArgument as exc:
        raise InvalidArgument(f"--encrypt {args.encrypt}: {exc}") from None


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
    encryption = encryption_for(args)
    client = args.client or route_source(args.server)
    bar = Progress(sys.stderr) if sys.stderr.isatty() else None
    with open_source(args.file) as src:
        try:
            result = send_dump(
                args.server,
                src.stream,
                client=client,
                path=args.path,
                panic=args.panic,
                compress=args.compress,
                encryption=encryption,
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
    if encryption is not None:
        comp += f", encrypted ({args.cipher or 'chacha20'})"
    print(
        f"sent {src.name} ({result.bytes_sent} bytes{comp}) to {args.server} "
        f"port {result.server_port} in {result.seconds:.2f} s, {result.mbps:.1f} MB/s, "
        f"{args.mode} mode, {result.retransmissions} retransmissions"
    )
    return 0
