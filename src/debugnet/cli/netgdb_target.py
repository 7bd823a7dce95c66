"""`debugnet netgdb-target`: play a panicked kernel's netgdb over a memory image."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from debugnet.errors import InvalidArgument


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--server", required=True, help="the netgdb proxy's address")
    parser.add_argument("-c", "--client", help="local address (default: the route's source)")
    parser.add_argument(
        "--image", required=True, metavar="FILE[@ADDR]", help="raw memory at ADDR, or an ELF core"
    )
    parser.add_argument("--registers", type=Path, help="NAME VALUE lines (default: zeros)")
    parser.add_argument("--arch", default="amd64", choices=["amd64"])
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--port", type=int, default=20025, help="the proxy's herald port")
    parser.add_argument("--client-port", type=int, default=20026)
    parser.add_argument(
        "--rx-buffer", type=int, default=4096, help="receive buffer in bytes (default: 4096)"
    )
    parser.add_argument(
        "--packet-size", type=int, default=4096, help="PacketSize offered to gdb (default: 4096)"
    )
    parser.add_argument(
        "--run",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after 'continue', report a stop this much later unless interrupted (default: 0)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def build_target(args: argparse.Namespace) -> object:
    from debugnet.netgdb.amd64 import RegisterFile
    from debugnet.netgdb.image import MemoryImage
    from debugnet.netgdb.stub import GdbStub
    from debugnet.netgdb.target import NetgdbTarget, TargetConfig
    from debugnet.transport.config import TransportConfig

    if args.rx_buffer < 1 or args.packet_size < 64:
        raise InvalidArgument("--rx-buffer must be >= 1 and --packet-size >= 64")
    stub = GdbStub(
        MemoryImage.open(args.image),
        RegisterFile.load(args.registers),
        packet_size=args.packet_size,
        run_time=args.run,
    )
    config = TargetConfig(
        transport=TransportConfig(mtu=args.mtu),
        rx_buffer=args.rx_buffer,
        herald_port=args.port,
        client_port=args.client_port,
    )
    return NetgdbTarget(stub, config)


def run(args: argparse.Namespace) -> int:
    from debugnet.cli.send import route_source
    from debugnet.inet.udpsocket import UdpShell
    from debugnet.netgdb.target import NetgdbTarget

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    target = build_target(args)
    assert isinstance(target, NetgdbTarget)
    client = args.client or route_source(args.server)
    # Replies are a few datagrams each: a UDP GSO write costs more than it saves here.
    shell = UdpShell(args.server, client=client, client_port=args.client_port, gso=False)
    with shell:
        try:
            shell.run(target)
        finally:
            target.close()
    st = target.stub.stats
    print(
        f"netgdb target: session ended ({target.end_reason}); {st.packets} packets from gdb, "
        f"{target.stats.sent_bytes} bytes to it"
    )
    return 0
