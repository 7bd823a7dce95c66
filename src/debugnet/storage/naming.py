"""Where a dump goes: the herald path checked properly, host names, file names.

netdumpd's rule is "relative, no '..' component, no symlink with '..' on the
way". The path is walked one component at a time from the dump directory's
descriptor (storage/dirfd.py), so the result lies inside the dump directory
and exists already (a client never makes us create a directory), and the
directory the dump is then written into is the one that was checked.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from debugnet.storage.dirfd import DirHandle

log = logging.getLogger(__name__)

_SAFE_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
"""Letters, digits, '-', '_', '.'; not starting with '-' (an option) or '.' (hidden); <= 63."""


def safe_hostname(name: str | None, ip: str) -> str:
    """The reverse-DNS name up to its first dot, or the numeric address.

    Anything that could not be a file-name component or could be taken for
    an option by the handler (a PTR record can hold '/', control bytes, or
    start with '-') falls back to the address.
    """
    if name:
        short = name.split(".", 1)[0]
        if _SAFE_HOST.fullmatch(short):
            return short
    return ip


def resolve_client_dir(dumpdir: Path, path: str | None) -> Path | None:
    """The directory a herald path names, or None if it must not be used."""
    if not path:
        return None
    with DirHandle.open(dumpdir) as root:
        found = root.walk(path)
    if found is None:
        return None
    found.close()
    return dumpdir / path


def open_output_dir(
    root: DirHandle,
    default_path: str,
    herald_path: str | None,
    client: str,
    warned: set[tuple[str, str]] | None = None,
) -> DirHandle:
    """The herald's directory if it is one inside ``root``, else the default one, held open.

    The client cannot tell that its path was not used (the protocol has no
    way to say so), so the server log is the only place it shows. ``warned``
    holds the (client, path) pairs already reported: a client sending the same
    path with every dump is told once, not once per dump.
    """
    if herald_path:
        chosen = root.walk(herald_path)
        if chosen is not None:
            return chosen
        if warned is None or (client, herald_path) not in warned:
            if warned is not None:
                warned.add((client, herald_path))
            log.warning(
                "%s: herald path %r is not a directory inside %s; its dumps go to %s",
                client,
                herald_path,
                root.path,
                root.path / default_path,
            )
    return open_default_dir(root, default_path)


def open_default_dir(root: DirHandle, default_path: str) -> DirHandle:
    """The operator's default path below ``root``; OSError if it is not a directory there."""
    found = root.walk(default_path) if default_path not in ("", ".") else root.dup()
    if found is None:
        raise NotADirectoryError(f"default path {default_path!r} is not a directory in {root.path}")
    return found


NETDUMPD = "netdumpd"
SAVECORE = "savecore"
LAYOUTS = (NETDUMPD, SAVECORE)
"""netdumpd's ``vmcore.<host>.<N>`` in the dump's directory, or savecore's ``vmcore.<N>``
in ``<dir>/<host>/``: the names crashinfo(8) and ``decryptcore -n N`` expect."""


def tag(host: str, index: int, layout: str = NETDUMPD) -> str:
    """What follows ``vmcore.``/``info.``/``key.`` in a dump's names."""
    return str(index) if layout == SAVECORE else f"{host}.{index}"


def vmcore_name(
    host: str, index: int, *, encrypted: bool, compression: str, layout: str = NETDUMPD
) -> str:
    """netdumpd appends ``.gz``/``.zst`` to either stem; savecore(8) names an encrypted
    core ``vmcore_encrypted.N`` even when compressed, as ``decryptcore -n N`` reads it."""
    stem = "vmcore_encrypted" if encrypted else "vmcore"
    suffix = {"gzip": ".gz", "zstd": ".zst"}.get(compression, "")
    if encrypted and layout == SAVECORE:
        suffix = ""
    return f"{stem}.{tag(host, index, layout)}{suffix}"


def index_names(host: str, index: int, layout: str = NETDUMPD) -> list[str]:
    """Every file name that would make ``index`` taken for ``host``."""
    t = tag(host, index, layout)
    names = [f"info.{t}", f"key.{t}"]
    for stem in ("vmcore", "vmcore_encrypted"):  # every suffix: older names take an index too
        names += [f"{stem}.{t}{suffix}" for suffix in ("", ".gz", ".zst")]
    return names


def bounds_name(host: str, layout: str = NETDUMPD) -> str:
    return "bounds" if layout == SAVECORE else f"bounds.{host}"


def last_name(name: str, host: str, index: int, layout: str = NETDUMPD) -> str:
    """The ``.last`` link for a file: netdumpd's ``vmcore.h.last`` (for any vmcore name),
    savecore's ``vmcore_encrypted.last.gz`` (stem and suffix kept, as savecore names it)."""
    stem, _, rest = name.partition(f".{tag(host, index, layout)}")
    if layout == SAVECORE:
        return f"{stem}.last{rest}"
    return f"{'vmcore' if stem.startswith('vmcore') else stem}.{host}.last"
