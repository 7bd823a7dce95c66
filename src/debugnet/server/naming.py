"""Where a dump goes: the herald path checked properly, host names, file names.

netdumpd's rule is "relative, no '..' component, no symlink with '..' on the
way". We also resolve the result and require it to lie inside the dump
directory and to exist already: a client never makes us create a directory.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

_SAFE_HOST = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def safe_hostname(name: str | None, ip: str) -> str:
    """The reverse-DNS name up to its first dot, or the numeric address.

    Anything that could not be a file-name component (a PTR record can hold
    '/' or control bytes) falls back to the address.
    """
    if name:
        short = name.split(".", 1)[0]
        if short and _SAFE_HOST.fullmatch(short):
            return short
    return ip


def _symlink_escapes(link: Path) -> bool:
    target = os.readlink(link)
    return os.path.isabs(target) or ".." in Path(target).parts


def resolve_client_dir(dumpdir: Path, path: str | None) -> Path | None:
    """The directory a herald path names, or None if it must not be used."""
    if not path:
        return None
    rel = Path(path)
    if rel.is_absolute() or ".." in rel.parts or "\0" in path:
        return None
    current = dumpdir
    for part in rel.parts:
        current = current / part
        if current.is_symlink() and _symlink_escapes(current):
            return None
    try:
        real = current.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    root = dumpdir.resolve()
    if real != root and root not in real.parents:
        return None
    return current if real.is_dir() else None


def output_dir(
    dumpdir: Path,
    default_path: str,
    herald_path: str | None,
    client: str,
    warned: set[tuple[str, str]] | None = None,
) -> Path:
    """The client's directory, else the default path with a warning.

    The client cannot tell that its path was not used (the protocol has no
    way to say so), so the server log is the only place it shows. ``warned``
    holds the (client, path) pairs already reported: a client sending the same
    path with every dump is told once, not once per dump.
    """
    chosen = resolve_client_dir(dumpdir, herald_path)
    if chosen is not None:
        return chosen
    default = dumpdir / default_path
    if herald_path and (warned is None or (client, herald_path) not in warned):
        if warned is not None:
            warned.add((client, herald_path))
        log.warning(
            "%s: herald path %r is not a directory inside %s; its dumps go to %s",
            client,
            herald_path,
            dumpdir,
            default,
        )
    return default


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
    stem = "vmcore_encrypted" if encrypted else "vmcore"
    suffix = {"gzip": ".gz", "zstd": ".zst"}.get(compression, "")
    return f"{stem}.{tag(host, index, layout)}{suffix}"


def index_names(host: str, index: int, layout: str = NETDUMPD) -> list[str]:
    """Every file name that would make ``index`` taken for ``host``."""
    t = tag(host, index, layout)
    names = [f"info.{t}", f"key.{t}"]
    for encrypted in (False, True):
        for compression in ("none", "gzip", "zstd"):
            names.append(
                vmcore_name(
                    host, index, encrypted=encrypted, compression=compression, layout=layout
                )
            )
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
