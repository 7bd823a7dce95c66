"""A dump's files on disk, read into a catalogue record: names, info file, signature.

Used by ``reindex`` (the files are the source of truth) and by the server at
the end of a dump (the signature needs the message buffer from the vmcore).
Both layouts are read: netdumpd's ``info.<host>.<N>`` and savecore's
``info.<N>`` (in ``<dir>/<host>/`` as ``serve --layout savecore`` writes, or
flat in the dump directory as FreeBSD's savecore does, the host then coming
from the info file's Hostname).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from debugnet.catalogue.record import DumpRecord, Layout
from debugnet.errors import DebugnetError
from debugnet.triage.decompress import read_head
from debugnet.triage.info import InfoFile, parse_info
from debugnet.triage.minidump import PAGE_SIZE, is_minidump, message_buffer, parse_header
from debugnet.triage.signature import Signature, signature

log = logging.getLogger(__name__)

_NETDUMPD_INFO = re.compile(r"^info\.(?P<host>.+)\.(?P<index>\d+)$")
_SAVECORE_INFO = re.compile(r"^info\.(?P<index>\d+)$")
_CORE_STEMS = ("vmcore", "vmcore_encrypted")
_SUFFIXES = ("", ".gz", ".zst")
_COMPRESSION_OF_SUFFIX = {".gz": "gzip", ".zst": "zstd"}


@dataclass(frozen=True, slots=True)
class Found:
    """An info file that names a dump, and what its names say."""

    info: Path
    path: str
    host: str | None
    index: int
    layout: str
    names: frozenset[str] = frozenset()
    """Every name in the info file's directory (one listing per directory, not a stat per name)."""


def dump_names(host: str, index: int, layout: str) -> list[str]:
    """Every file name a dump may have, info first, in its layout."""
    tag = f"{host}.{index}" if layout == Layout.NETDUMPD else str(index)
    cores = [f"{stem}.{tag}{sfx}" for stem in _CORE_STEMS for sfx in _SUFFIXES]
    extra = [f"textdump.tar.{tag}", f"textdump.tar.{tag}.gz", f"core.txt.{tag}"]
    return [f"info.{tag}", f"key.{tag}", *cores, *extra]


def find_dumps(dumpdir: Path) -> Iterator[Found]:
    """Every info file under ``dumpdir``, hidden directories and ``.last`` links skipped."""
    for root, dirs, names in os.walk(dumpdir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(root, dumpdir)
        yield from found_in(Path(root), "" if rel == "." else rel, names)


def found_in(directory: Path, rel: str, names: Iterable[str]) -> Iterator[Found]:
    """The dumps whose info files are among ``names``, the listing of ``rel`` (a directory,
    or a folder of a bucket) whose files are at ``directory``."""
    listing = frozenset(names)
    for name in sorted(listing):
        if not name.startswith("info.") or name.endswith(".last"):
            continue
        if m := _SAVECORE_INFO.match(name):
            parent, _, host = rel.rpartition("/")
            found = Found(directory / name, parent, host or None, int(m["index"]), Layout.SAVECORE)
        elif m := _NETDUMPD_INFO.match(name):
            found = Found(directory / name, rel, m["host"], int(m["index"]), Layout.NETDUMPD)
        else:
            continue
        yield dataclasses.replace(found, names=listing)


def received_core(names: list[str]) -> str | None:
    """The core the server received among a dump's ``names``, not one made from it.

    ``dumps decrypt`` writes ``vmcore.N[.gz]`` beside ``vmcore_encrypted.N`` and
    ``dumps extract`` writes ``vmcore.N`` beside ``vmcore.N.gz``: the received
    one is the encrypted core, else the compressed one, else the plain one.
    """
    cores = [n for n in names if n.startswith(_CORE_STEMS)]

    def made_later(name: str) -> tuple[bool, bool]:
        return not name.startswith("vmcore_encrypted"), not name.endswith((".gz", ".zst"))

    return min(cores, key=made_later, default=None)


def core_file(directory: Path, names: list[str]) -> Path | None:
    core = received_core(names)
    return None if core is None else directory / core


def compression_of(core: Path, info: InfoFile) -> str | None:
    """A core's compression: its name's suffix, else what the info file says.

    None when neither says (no KDH arrived), as the live catalogue records it.
    """
    for suffix, name in _COMPRESSION_OF_SUFFIX.items():
        if core.name.endswith(suffix):
            return name
    if info.compression in ("gzip", "zstd"):
        return info.compression
    return "none" if info.length is not None or info.architecture is not None else None


def message_buffer_from(head: Callable[[int], bytes], what: object) -> str | None:
    """The kernel message buffer of an amd64 minidump, or None for anything else.

    ``head(n)`` gives the first ``n`` bytes of the plain dump; it is called
    twice (the header page, then header and buffer), so a dump in a bucket
    costs two ranged reads and a compressed one is decompressed no further.
    """
    try:
        first = head(PAGE_SIZE)
        if not is_minidump(first):
            return None
        return message_buffer(head(parse_header(first).head_size)).text
    except (OSError, DebugnetError) as exc:
        log.debug("%s: no message buffer: %s", what, exc)
        return None


def message_buffer_of(core: Path, compression: str) -> str | None:
    """``message_buffer_from`` a file on disk."""

    def head(size: int) -> bytes:
        with open(core, "rb") as stream:
            return read_head(stream, compression, size)

    return message_buffer_from(head, core)


def signature_from(
    core: str | None, panic: str | None, msgbuf_of: Callable[[str], str | None]
) -> Signature:
    """The recipe's signature; the core's message buffer (``msgbuf_of(core)``) is read
    unless the dump is encrypted."""
    msgbuf = None
    if core is not None and not Path(core).name.startswith("vmcore_encrypted"):
        msgbuf = msgbuf_of(core)
    return signature(panic, msgbuf)


def signature_of(core: Path | None, panic: str | None, compression: str) -> Signature:
    """``signature_from`` a core on disk."""
    where = None if core is None else str(core)
    return signature_from(where, panic, lambda name: message_buffer_of(Path(name), compression))


def bytes_on_disk(st: os.stat_result) -> int:
    """Bytes of a vmcore actually written: its size, less the holes of a sparse file."""
    return min(st.st_size, st.st_blocks * 512)


def _short(hostname: str | None) -> str | None:
    return hostname.split(".", 1)[0] or None if hostname else None


def record_from_files(dumpdir: Path, found: Found) -> DumpRecord:
    """Everything the files say about one dump (the info file must be readable)."""
    info = parse_info(found.info.read_bytes())
    directory = found.info.parent
    rel_dir = os.path.relpath(directory, dumpdir)
    prefix = "" if rel_dir == "." else f"{rel_dir}/"
    names = found.names or frozenset(os.listdir(directory))
    present = [n for n in dump_names(host_of(found, info), found.index, found.layout) if n in names]
    core = core_file(directory, present)
    info_stat = os.stat(found.info)
    core_stat = os.stat(core) if core is not None else None
    mtime = max(info_stat.st_mtime, core_stat.st_mtime if core_stat else 0.0)
    compression = compression_of(core, info) if core is not None else None
    sig = signature_of(core, info.panic, compression or "none")
    stored = bytes_on_disk(core_stat) if core_stat is not None else 0
    files = [prefix + n for n in present]
    return build_record(found, info, files, stored, mtime, sig, compression)


def host_of(found: Found, info: InfoFile) -> str:
    """The host a dump is filed under: its name's, else the info file's short Hostname."""
    return found.host or _short(info.hostname) or "localhost"


def build_record(
    found: Found,
    info: InfoFile,
    files: list[str],
    stored: int,
    mtime: float,
    sig: Signature,
    compression: str | None,
) -> DumpRecord:
    """The record of a dump found in storage: ``files`` relative to the root, ``stored``
    the core's bytes, ``mtime`` the newest of its files' modification times,
    ``compression`` the core's (``compression_of``; None without a core)."""
    return DumpRecord(
        host=host_of(found, info),
        index=found.index,
        started=mtime,
        path=found.path,
        layout=found.layout,
        ip=info.ip,
        files=files,
        state=info.outcome.state,
        reason=info.outcome.reason,
        last_data=mtime,
        ended=mtime,
        bytes=stored,
        length=info.length,
        architecture=info.architecture,
        architecture_version=info.architecture_version,
        version_string=info.version_string,
        panic=info.panic,
        dumptime=info.dumptime,
        hostname=info.hostname,
        compression=info.compression or compression,
        encrypted=any(Path(f).name.startswith(("key.", "vmcore_encrypted.")) for f in files),
        parity_ok=info.parity_ok,
        signature=sig.title,
        signature_version=sig.version,
    )


def scan(dumpdir: Path) -> Iterator[DumpRecord]:
    """Records for every dump under ``dumpdir`` (unreadable ones logged and skipped)."""
    for found in find_dumps(dumpdir):
        try:
            yield record_from_files(dumpdir, found)
        except OSError as exc:
            log.warning("%s: skipped: %s", found.info, exc)
