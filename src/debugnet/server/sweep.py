"""At start-up: dumps a dead collector left half-received get their last line.

A collector killed mid-dump (power loss, SIGKILL, OOM) leaves an info file
with no ending line; nobody else will ever write one. Once the server owns
its port, before any session starts, each such info file gets
``Dump incomplete: server stopped while receiving`` (the table of endings)
and the handler runs with ``error``, as for any dump that ended.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from debugnet.server.endings import Ending
from debugnet.server.retention import StoredDump, scan

log = logging.getLogger(__name__)

_FROM = re.compile(rb"Dump from .* \[([0-9.]+)\]")
_SAVECORE = b"Dump header from device"
"""savecore(8)'s info files start so and end with ``Dump Status``: never a dump of ours."""

Handler = Callable[[str, str, str, Path, Path], None]
"""``HandlerRunner.run``: reason, ip, host, info path, core path."""


def mark_interrupted(root: Path, handler: Handler | None = None) -> list[StoredDump]:
    """Append the ending line to every unended dump under ``root``; the dumps marked."""
    marked: list[StoredDump] = []
    line = Ending.DIED.line()
    for dump in scan(root):
        if dump.ended is not None:
            continue
        directory = root / dump.directory
        info = dump.info
        flags = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            nofollow = os.O_NOFOLLOW if dump.directory != "." else 0  # the root is the operator's
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | nofollow)
        except OSError as exc:
            log.warning("cannot open %s: %s", directory, exc)
            continue
        try:
            fd = os.open(info, flags, dir_fd=dir_fd)
            try:
                head = os.pread(fd, 256, 0)
                if head.startswith(_SAVECORE):
                    continue
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("cannot mark %s/%s: %s", directory, info, exc)
            continue
        finally:
            os.close(dir_fd)
        log.warning("%s/%s: the collector stopped while receiving it; marked", directory, info)
        marked.append(dump)
        if handler is not None:
            m = _FROM.match(head)
            ip = m.group(1).decode() if m else dump.host
            core = next((n for n in dump.names if n.startswith("vmcore")), f"vmcore.{dump.host}")
            handler(Ending.DIED.handler, ip, dump.host, directory / info, directory / core)
    return marked
