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
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from debugnet.catalogue.base import Catalogue
from debugnet.catalogue.files import dump_names, message_buffer_of
from debugnet.catalogue.record import DumpRecord, Layout
from debugnet.errors import DecryptError, Exists, FormatError, NoEntry
from debugnet.triage.decompress import decompress_stream
from debugnet.triage.decrypt import StreamDecryptor, unlock

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SUFFIX = {"gzip": ".gz", "zstd": ".zst"}


def present_files(dumpdir: Path, record: DumpRecord) -> list[str]:
    """The dump's files on disk now (relative to ``dumpdir``), info file first."""
    directory = dumpdir / record.directory
    prefix = f"{record.directory}/" if record.directory else ""
    names = dump_names(record.host, record.index, record.layout)
    return [prefix + n for n in names if (directory / n).exists()]


def _find(dumpdir: Path, record: DumpRecord, stems: tuple[str, ...]) -> Path | None:
    for rel in present_files(dumpdir, record):
        if Path(rel).name.startswith(stems):
            return dumpdir / rel
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
    dumpdir: Path, record: DumpRecord, private_pem: bytes, out: Path | None, force: bool
) -> Path:
    """decryptcore(8): ``key.*`` and ``vmcore_encrypted.*`` to the plain (maybe compressed) dump."""
    key_path = _find(dumpdir, record, ("key.",))
    core = _find(dumpdir, record, ("vmcore_encrypted.",))
    if key_path is None or core is None:
        raise NoEntry(f"{record.id}: not an encrypted dump (no key file or encrypted vmcore)")
    key = unlock(key_path.read_bytes(), private_pem)
    compression = _compression_of(core.name) or record.compression
    target = out or core.with_name(plain_name(record, compression))
    decryptor = StreamDecryptor(key)
    with open(core, "rb") as src, _output(target, force) as dst:
        _copy(src, dst, decryptor.update)
        dst.write(decryptor.finalize())
    return target


def extract(dumpdir: Path, record: DumpRecord, out: Path | None, force: bool) -> Path:
    """A compressed dump (``.gz``/``.zst``, received or decrypted) to a plain vmcore."""
    core = None
    for rel in present_files(dumpdir, record):
        name = Path(rel).name
        if name.startswith("vmcore.") and name.endswith((".gz", ".zst")):
            core = dumpdir / rel
            break
    if core is None:
        if _find(dumpdir, record, ("vmcore_encrypted.",)) is not None:
            raise DecryptError(f"{record.id} is encrypted: run 'debugnet dumps decrypt' first")
        raise NoEntry(f"{record.id}: no compressed vmcore to extract")
    target = out or core.with_name(plain_name(record))
    with open(core, "rb") as src, _output(target, force) as dst:
        decompress_stream(src, dst, _compression_of(core.name) or "none")
    return target


def msgbuf(dumpdir: Path, record: DumpRecord) -> str:
    """The kernel message buffer of an amd64 minidump among the dump's files."""
    for rel in present_files(dumpdir, record):
        name = Path(rel).name
        if name.startswith("vmcore."):
            text = message_buffer_of(dumpdir / rel, _compression_of(name) or "none")
            if text is not None:
                return text
    if _find(dumpdir, record, ("vmcore_encrypted.",)) is not None:
        raise DecryptError(f"{record.id} is encrypted: run 'debugnet dumps decrypt' first")
    raise FormatError(f"{record.id}: no amd64 minidump with a message buffer")


def remove(dumpdir: Path, catalogue: Catalogue, records: list[DumpRecord]) -> list[str]:
    """Delete the dumps' files, the ``.last`` links that pointed at them, then the records."""
    removed: list[str] = []
    for record in records:
        paths = [dumpdir / rel for rel in present_files(dumpdir, record)]
        names = {p.name for p in paths}
        directory = dumpdir / record.directory
        for link in directory.glob("*.last*"):
            if link.is_symlink() and os.readlink(link) in names:
                link.unlink()
        for path in paths:
            path.unlink(missing_ok=True)
            removed.append(str(path.relative_to(dumpdir)))
    catalogue.remove(r.id for r in records)
    return removed
