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


def vmcore_name(host: str, index: int, *, encrypted: bool, compression: str) -> str:
    stem = "vmcore_encrypted" if encrypted else "vmcore"
    suffix = {"gzip": ".gz", "zstd": ".zst"}.get(compression, "")
    return f"{stem}.{host}.{index}{suffix}"


def index_names(host: str, index: int) -> list[str]:
    """Every file name that would make ``index`` taken for ``host``."""
    names = [f"info.{host}.{index}", f"key.{host}.{index}"]
    for encrypted in (False, True):
        for compression in ("none", "gzip", "zstd"):
            names.append(vmcore_name(host, index, encrypted=encrypted, compression=compression))
    return names
