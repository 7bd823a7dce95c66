"""What ``debugnet dumps`` does to a dump's files: decrypt, extract, read, remove.

Each writes its output under a temporary name and moves it into place only
when complete, so a wrong key, a truncated key file or a broken stream leaves
nothing behind; an existing output is refused unless ``force``, as
decryptcore(8) opens its output with O_EXCL unless ``-f``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import BinaryIO

from debugnet.catalogue.base import Catalogue
from debugnet.catalogue.dumpfiles import DumpFiles, message_buffer_in
from debugnet.catalogue.record import DumpRecord, Layout
from debugnet.errors import DecryptError, Exists, FormatError, NoEntry
from debugnet.triage.decompress import decompress_stream
from debugnet.triage.decrypt import StreamDecryptor, unlock

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SUFFIX = {"gzip": ".gz", "zstd": ".zst"}
_KEY_MAX = 1 << 20  # a key record is a few hundred bytes


def _find(present: list[str], stems: tuple[str, ...]) -> str | None:
    """The first of a dump's present files (``DumpFiles.present``) whose name starts so."""
    for name in present:
        if Path(name).name.startswith(stems):
            return name
    return None


def _compression_of(name: str) -> str | None:
    """What a core's name says of its compression (netdumpd and our server add a suffix)."""
    for compression, suffix in _SUFFIX.items():
        if name.endswith(suffix):
            return compression
    return None


def plain_name(record: DumpRecord, compression: str | None = None) -> str:
    """``vmcore.<host>.<N>`` (savecore: ``vmcore.<N>``), with the compression's suffix if any."""
    tag = f"{record.host}.{record.index}" if record.layout == Layout.NETDUMPD else record.index
    return f"vmcore.{tag}{_SUFFIX.get(compression or 'none', '')}"


@contextmanager
def _output(path: Path, force: bool) -> Iterator[BinaryIO]:
    """A file that appears at ``path`` only if the block completes."""
    if path.exists() and not force:
        raise Exists(f"{path} exists (use --force to overwrite)")
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails, rather than overwrites, if it appeared meanwhile
            os.unlink(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy(src: BinaryIO, out: BinaryIO, transform: Callable[[bytes], bytes]) -> None:
    while chunk := src.read(_CHUNK):
        out.write(transform(chunk))


def decrypt(
    files: DumpFiles, record: DumpRecord, private_pem: bytes, out: Path | None, force: bool
) -> Path:
    """decryptcore(8): ``key.*`` and ``vmcore_encrypted.*`` to the plain (maybe compressed) dump."""
    present = files.present(record)  # one listing: in a bucket, a HEAD per file
    key_name = _find(present, ("key.",))
    core = _find(present, ("vmcore_encrypted.",))
    if key_name is None or core is None:
        raise NoEntry(f"{record.id}: not an encrypted dump (no key file or encrypted vmcore)")
    key = unlock(files.read(key_name, _KEY_MAX), private_pem)
    compression = _compression_of(core) or record.compression
    target = out or files.output_beside(core, plain_name(record, compression))
    decryptor = StreamDecryptor(key)
    with closing(files.open(core)) as src, _output(target, force) as dst:
        _copy(src, dst, decryptor.update)
        dst.write(decryptor.finalize())
    return target


def extract(files: DumpFiles, record: DumpRecord, out: Path | None, force: bool) -> Path:
    """A compressed dump (``.gz``/``.zst``, received or decrypted) to a plain vmcore."""
    present = files.present(record)
    core = None
    for name in present:
        base = Path(name).name
        if base.startswith("vmcore.") and base.endswith((".gz", ".zst")):
            core = name
            break
    if core is None:
        if _find(present, ("vmcore_encrypted.",)) is not None:
            raise DecryptError(f"{record.id} is encrypted: run 'debugnet dumps decrypt' first")
        raise NoEntry(f"{record.id}: no compressed vmcore to extract")
    target = out or files.output_beside(core, plain_name(record))
    with closing(files.open(core)) as src, _output(target, force) as dst:
        decompress_stream(src, dst, _compression_of(core) or "none")
    return target


def msgbuf(files: DumpFiles, record: DumpRecord) -> str:
    """The kernel message buffer of an amd64 minidump among the dump's files."""
    present = files.present(record)
    for name in present:
        if Path(name).name.startswith("vmcore."):
            text = message_buffer_in(files, name, _compression_of(name) or "none")
            if text is not None:
                return text
    if _find(present, ("vmcore_encrypted.",)) is not None:
        raise DecryptError(f"{record.id} is encrypted: run 'debugnet dumps decrypt' first")
    raise FormatError(f"{record.id}: no amd64 minidump with a message buffer")


def remove(files: DumpFiles, catalogue: Catalogue, records: list[DumpRecord]) -> list[str]:
    """Delete the dumps' files (on disk, the ``.last`` links to them too), then the records."""
    removed: list[str] = []
    for record in records:
        removed += files.delete(record)
    catalogue.remove(r.id for r in records)
    return removed
