"""``send_dump``: a file, stream or bytes to a dump server in one call.

Over a UDP socket by default; with ``raw`` over the client's own
Ethernet/ARP/IPv4/UDP on a packet socket (the raw path). The dump client is
the same either way; only the shell that runs it differs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from debugnet.inet.udpsocket import UdpShell
from debugnet.netdump.client import DumpProgress, NetdumpClient
from debugnet.netdump.compress import Compressor, make_compressor
from debugnet.netdump.dump import DumpOptions, DumpProducer
from debugnet.netdump.encrypt import DumpEncryption
from debugnet.netdump.host import HostInfo
from debugnet.netdump.source import source_of
from debugnet.transport.config import Mode, TransportConfig
from debugnet.wire.constants import NETDUMP_ACKPORT, NETDUMP_PORT

if TYPE_CHECKING:
    from debugnet.inet.infer import RawTarget

DEFAULT_PANIC = "debugnet send"


@dataclass(frozen=True, slots=True)
class SendResult:
    bytes_read: int
    """Bytes taken from the source."""
    bytes_sent: int
    """Dump bytes sent (the compressed length when compressing)."""
    seconds: float
    packets: int
    retransmissions: int
    server_port: int | None
    mode: Mode

    @property
    def mbps(self) -> float:
        """MB/s (10^6 bytes) of dump data sent."""
        return self.bytes_sent / self.seconds / 1e6 if self.seconds > 0 else 0.0


def send_dump(
    server: str,
    source: BinaryIO | bytes | bytearray | memoryview,
    *,
    client: str = "127.0.0.1",
    path: str | None = None,
    panic: str = DEFAULT_PANIC,
    compress: str | Compressor | None = None,
    mode: Mode | str = Mode.WINDOW,
    window: int = 256,
    server_port: int = NETDUMP_PORT,
    client_port: int = NETDUMP_ACKPORT,
    key: bytes | None = None,
    encryption: DumpEncryption | None = None,
    kdh_after_data: bool = False,
    host: HostInfo | None = None,
    dumptime: int | None = None,
    config: TransportConfig | None = None,
    progress: Callable[[DumpProgress], None] | None = None,
    raw: RawTarget | None = None,
) -> SendResult:
    """Send one dump and return once the server acknowledged FINISHED.

    Raises TimedOut, ConnectionReset, Busy (client port taken), or an
    ErrnoError for a refused or unreachable server. With ``raw`` the dump
    goes over the raw path to ``raw.server`` (``server`` and ``client`` are
    then ignored) at the interface's MTU. ``encryption`` (from
    ``netdump.encrypt.make_encryption``) sends its key record and encrypts the
    data; ``key`` alone sends a key record with the data left as it is.
    """
    compressor = make_compressor(compress) if isinstance(compress, str | None) else compress
    if config is None:
        config = TransportConfig(mode=Mode(mode), window=window)
    src = source_of(source)
    options = DumpOptions(
        host=host or HostInfo.detect(),
        panic=panic,
        dumptime=int(time.time()) if dumptime is None else dumptime,
        key=encryption.key_record if encryption is not None else key,
        compressor=compressor,
        encryptor=encryption.encryptor if encryption is not None else None,
        kdh_after_data=kdh_after_data,
    )
    producer = DumpProducer(src.stream, src.size, options, src.name)
    start = time.monotonic()
    with src:
        if raw is not None:
            from debugnet.inet.rawpath import RawPath

            raw_path = RawPath(raw, config, client_port=client_port)
            config = dataclasses.replace(config, mtu=raw_path.mtu)
            shell: RawPath | UdpShell = raw_path
        else:
            shell = UdpShell(server, client=client, client_port=client_port)
        with shell:
            dump = NetdumpClient(
                producer, config, path=path, herald_port=server_port, client_port=client_port
            )
            report = None if progress is None else (lambda: progress(dump.progress))
            shell.run(dump, progress=report)
    stats = dump.conn.stats
    return SendResult(
        producer.bytes_read,
        producer.bytes_out,
        time.monotonic() - start,
        stats.packets_sent,
        stats.retransmissions,
        dump.server_port,
        config.mode,
    )
