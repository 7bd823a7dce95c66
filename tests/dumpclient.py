"""The smallest honest netdump client for server tests: PROTOCOL.md sections 3 and 7.

Each message is split into packets of at most ``payload`` bytes, all sent,
then the unacked ones are resent every ``rto`` seconds until all are acked or
``retries`` rounds pass -- the kernel's algorithm with a shorter clock.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

HDR = struct.Struct("!IIQII")
HERALD, FINISHED, DATA, KDH, EKCD_KEY = 1, 2, 3, 4, 5


class ClientTimeout(Exception):
    pass


def message(mtype: int, seqno: int, data: bytes = b"", offset: int = 0, aux2: int = 0) -> bytes:
    return HDR.pack(mtype, seqno, offset, len(data), aux2) + data


@dataclass
class DumpClient:
    ip: str
    server: str
    server_port: int = 20023
    payload: int = 1448
    rto: float = 0.2
    """Seconds before resending: long enough that a server slowed by a loaded machine is
    rarely sent a copy (the server records each KDH copy it gets in the info file)."""
    retries: int = 100
    """Rounds before giving up: 20 s, so a loaded machine slows a dump but never fails it
    (tests that expect a timeout pass a small count)."""
    seqno: int = 1
    port: int | None = None
    retransmits: int = 0
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, 20024))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> DumpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def herald(self, path: bytes | None = None, raw: bytes | None = None) -> int:
        data = raw if raw is not None else (b"" if path is None else path + b"\0")
        self.port = None
        self._reliable([message(HERALD, self.seqno, data)], [self.seqno], herald=True)
        self.seqno += 1
        assert self.port is not None
        return self.port

    def send(self, mtype: int, data: bytes = b"", offset: int = 0) -> None:
        packets, seqnos = [], []
        chunks = [data[i : i + self.payload] for i in range(0, len(data), self.payload)] or [b""]
        pos = offset
        for chunk in chunks:
            packets.append(message(mtype, self.seqno, chunk, pos))
            seqnos.append(self.seqno)
            self.seqno += 1
            pos += len(chunk)
        self._reliable(packets, seqnos)

    def finish(self) -> None:
        self.send(FINISHED)

    def dump(self, data: bytes, kdh: bytes | None = None, chunk: int = 65536) -> None:
        if kdh is not None:
            self.send(KDH, kdh)
        for off in range(0, len(data), chunk):
            self.send(DATA, data[off : off + chunk], off)
        self.finish()

    def _reliable(self, packets: list[bytes], seqnos: list[int], herald: bool = False) -> None:
        pending = dict(zip(seqnos, packets, strict=True))
        for attempt in range(self.retries):
            if attempt:
                self.retransmits += len(pending)
            for pkt in pending.values():
                dest = (self.server, self.server_port if herald else self.port)
                self.sock.sendto(pkt, dest)
            deadline = time.monotonic() + self.rto
            while pending and (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    ack, (_ip, src_port) = self.sock.recvfrom(64)
                except (TimeoutError, ConnectionRefusedError):
                    continue
                if len(ack) != 4:
                    continue
                if herald and self.port is None:
                    self.port = src_port
                pending.pop(struct.unpack("!I", ack)[0], None)
            if not pending:
                return
        raise ClientTimeout(f"{len(pending)} packets unacked (first seqno {min(pending)})")
