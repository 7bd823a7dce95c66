"""Which ``DumpStore`` a server's configuration names: the dump directory or a bucket."""

from __future__ import annotations

from pathlib import Path

from debugnet.catalogue.dumpfiles import BucketFiles, DumpFiles, LocalFiles
from debugnet.server.config import ServerConfig
from debugnet.storage.directory import DirectoryStore
from debugnet.storage.interface import DumpStore
from debugnet.storage.writebehind import WriteBehind


def open_store(config: ServerConfig) -> DumpStore:
    """``--store s3://...`` (the ``s3`` extra) or the directory ``--dir``."""
    if config.store is None:
        return DirectoryStore(
            config.dumpdir,
            config.default_path,
            config.max_dumps,
            config.write_buffer,
            config.layout,
            min_free=config.min_free,
            write_behind=WriteBehind() if config.write_behind else None,
        )
    from debugnet.catalogue.s3location import S3Location
    from debugnet.storage.s3.store import S3Store

    return S3Store(
        S3Location.parse(config.store),
        collector=config.collector_id,
        default_path=config.default_path,
        layout=config.layout,
        max_dumps=config.max_dumps,
        part_size=config.part_size,
        spool_max=config.spool_max,
        max_inflight=config.parts_in_flight,
        timeout=config.store_timeout,
    )


def store_root(store: DumpStore, config: ServerConfig) -> Path:
    """What the catalogue's file names are relative to: the dump dir or ``/BUCKET/PREFIX``."""
    root = getattr(store, "root", None)
    return root if isinstance(root, Path) else config.dumpdir


def dump_files_of(store: DumpStore, config: ServerConfig) -> DumpFiles:
    """How readers reach what ``store`` writes: the dump directory, or the same bucket."""
    from debugnet.storage.s3.store import S3Store

    if isinstance(store, S3Store):
        return BucketFiles(store.location, store.client)
    return LocalFiles(store_root(store, config))
