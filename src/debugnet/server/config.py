"""Every tunable of the dump server in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from debugnet.server.retention import RetentionPolicy
from debugnet.storage.limits import Floor
from debugnet.wire.constants import NETDUMP_ACKPORT, NETDUMP_PORT

MAX_DUMPS = 1024
"""Dumps kept per host, as netdumpd."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    dumpdir: Path
    bind: str = "0.0.0.0"
    port: int = NETDUMP_PORT
    client_port: int = NETDUMP_ACKPORT
    """Where sessions send acks; netdumpd always uses 20024."""
    default_path: str = "."
    handler: Path | None = None
    timeout: float = 600.0
    linger: float = 10.0
    resolve: bool = True
    dns_timeout: float = 2.0
    rcvbuf: int = 4 * 1024 * 1024
    """Per-session receive buffer. netdumpd uses 128 KiB; windowed clients need more."""
    write_buffer: int = 256 * 1024
    """Contiguous small pieces gathered before one pwrite; batches of 64 KiB or more
    go straight from the receive slots with pwritev."""
    max_dumps: int = MAX_DUMPS
    progress_interval: float = 5.0
    max_datagram: int = 65535
    min_free: Floor = field(default_factory=Floor)
    """Free space kept on the dump directory's file system (savecore's ``minfree`` too)."""
    max_dump_size: int | None = None
    """Bytes one dump may have; None: as the KDH says."""
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    """--keep-per-host, --max-total, --max-age: applied when a dump ends and hourly."""
    write_behind: bool = True
    """Make data durable while it arrives, so FINISHED is acked quickly."""
    handler_jobs: int = 4
    """Handler processes at once; more runs wait in a queue."""
    handler_queue: int = 1024
    """Handler runs that may wait; past that a run is logged and dropped."""
    allow: tuple[str, ...] = ()
    """CIDR networks whose heralds are answered; empty: everyone."""
    max_sessions: int = 256
    max_sessions_per_net: int = 32
    """Sessions at once from one /24."""
    displace_after: float = 2.0
    """At a limit, a herald-only session silent this long gives way to a new herald."""
    batch: bool = True
    """Use recvmmsg/sendmmsg where available (Linux)."""
    layout: str = "netdumpd"
    """File names: netdumpd's, or savecore's in a directory per host (storage/naming.py)."""
    catalogue: bool = True
    """Record every dump in <dumpdir>/catalogue.sqlite (debugnet dumps reads it)."""
    collector_id: str = ""
    """This collector's name in the catalogue; start-up recovers only its own dumps."""
    store: str | None = None
    """``s3://BUCKET[/PREFIX]``: dumps go to object storage instead of ``dumpdir``."""
    catalogue_url: str | None = None
    """A shared catalogue (``postgresql://...``) or an SQLite file; None: in ``dumpdir``."""
    spool_max: int = 256 * 1024 * 1024
    """Out-of-order bytes one session may hold back from an object store's upload."""
    store_timeout: float = 30.0
    """Seconds an object store may stay unreachable before a dump ends incomplete."""
    parts_in_flight: int = 4
    """Parts of one dump uploading at once."""
    part_size: int = 8 * 1024 * 1024
