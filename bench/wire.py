"""Frames built and parsed per second, and checksum speed, against scapy in the same run.

The frame is a full-size debugnet DATA frame: Ethernet + IPv4 + UDP + 24-byte
message header + 1448 bytes of data = 1514 bytes. "Parsed" means checked at
every layer including both checksums. scapy does the same work its own way:
it builds with checksums computed, and parses with both checksums verified.

    python bench/wire.py [--seconds 0.5] [--repeat 5] [--wall]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from ipaddress import IPv4Address

from debugnet.wire.checksum import internet_checksum
from debugnet.wire.constants import max_payload
from debugnet.wire.frame import FrameTemplate, parse_frame
from debugnet.wire.message import Message, MsgType

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
CLIENT = IPv4Address("192.0.2.1")
SERVER = IPv4Address("192.0.2.2")
SEQNO = 1234
OFFSET = 1448 * 1000


def rate(
    work: Callable[[], object], seconds: float, repeat: int, clock: Callable[[], float]
) -> float:
    """Best calls per second over ``repeat`` runs of about ``seconds`` each."""
    batch = 1
    while True:
        start = clock()
        for _ in range(batch):
            work()
        elapsed = clock() - start
        if elapsed >= seconds / 10:
            break
        batch *= 2
    per_run = max(1, int(batch * seconds / elapsed))
    best = 0.0
    for _ in range(repeat):
        start = clock()
        for _ in range(per_run):
            work()
        best = max(best, per_run / (clock() - start))
    return best


def ours(data: bytes) -> tuple[Callable[[], object], Callable[[], object], bytes]:
    template = FrameTemplate(CLIENT_MAC, SERVER_MAC, CLIENT, SERVER, 20024, 20023)

    def build() -> bytes:
        return template.message(MsgType.DATA, SEQNO, data, OFFSET)

    frame = build()
    return build, lambda: parse_frame(frame), frame


def theirs(
    data: bytes,
) -> tuple[Callable[[], object], Callable[[], object], Callable[[bytes], int]]:
    import scapy.all as scapy
    from scapy.layers.inet import in4_chksum
    from scapy.utils import checksum

    scapy.conf.verb = 0
    message = Message.build(MsgType.DATA, SEQNO, data, OFFSET).emit()

    def build() -> bytes:
        return bytes(
            scapy.Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
            / scapy.IP(src=str(CLIENT), dst=str(SERVER), flags="DF", ttl=255, id=0)
            / scapy.UDP(sport=20024, dport=20023)
            / scapy.Raw(message)
        )

    frame = build()

    def parse() -> bytes:
        packet = scapy.Ether(frame)
        ip = packet[scapy.IP]
        header = bytes(frame[14:34])
        if checksum(header) != 0:
            raise ValueError("IP checksum")
        udp = packet[scapy.UDP]
        if in4_chksum(17, ip, bytes(udp)) != 0:
            raise ValueError("UDP checksum")
        load: bytes = udp[scapy.Raw].load
        return load

    return build, parse, checksum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one timed run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best counts")
    parser.add_argument(
        "--wall",
        action="store_true",
        help="time with the wall clock instead of this process's CPU time "
        "(CPU time is steadier on a shared machine; on an idle one they agree)",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    data = random.Random(1).randbytes(max_payload(1500))
    build, parse, frame = ours(data)
    their_build, their_parse, their_checksum = theirs(data)
    assert len(frame) == 1514 and their_build() == frame, "scapy and we must build the same frame"
    packet = frame[14:]  # the 1500-byte IPv4 packet
    big = random.Random(2).randbytes(65536)

    rows = [
        ("frames built/s", build, their_build, 1),
        ("frames parsed+validated/s", parse, their_parse, 1),
        (
            "checksum MB/s (1500 B)",
            lambda: internet_checksum(packet),
            lambda: their_checksum(packet),
            len(packet) / 1e6,
        ),
        (
            "checksum MB/s (64 KiB)",
            lambda: internet_checksum(big),
            lambda: their_checksum(big),
            len(big) / 1e6,
        ),
    ]
    print(
        f"{'':28} {'ours':>12} {'scapy':>12} {'ratio':>8}   ({'wall' if args.wall else 'CPU'} time)"
    )
    for name, mine, other, scale in rows:
        a = rate(mine, args.seconds, args.repeat, clock) * scale
        b = rate(other, args.seconds, args.repeat, clock) * scale
        print(f"{name:28} {a:12,.0f} {b:12,.0f} {a / b:7.1f}x")


if __name__ == "__main__":
    main()
