"""What the kerneldumpheader says about the machine that dumped."""

from __future__ import annotations

import platform
from dataclasses import dataclass

from debugnet.wire.kdh import ARCH_SIZE, HOSTNAME_SIZE, PANICSTRING_SIZE_V4, VERSIONSTRING_SIZE

# FreeBSD's MACHINE_ARCH names for what Python reports.
_ARCH_NAMES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "i386",
    "i686": "i386",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv7l": "armv7",
    "ppc64le": "powerpc64le",
    "ppc64": "powerpc64",
    "riscv64": "riscv64",
}


def fit(text: str, size: int) -> str:
    """``text`` cut so its UTF-8 form leaves room for the NUL in a ``size``-byte field."""
    raw = text.replace("\0", " ").encode("utf-8", "surrogateescape")[: size - 1]
    return raw.decode("utf-8", "ignore")


@dataclass(frozen=True, slots=True)
class HostInfo:
    hostname: str
    versionstring: str
    architecture: str

    @classmethod
    def detect(cls) -> HostInfo:
        """This host, described the way a FreeBSD kernel describes itself."""
        uname = platform.uname()
        machine = uname.machine.lower()
        version = f"{uname.system} {uname.release} {uname.version}\n"
        return cls.of(uname.node or "localhost", version, _ARCH_NAMES.get(machine, machine))

    @classmethod
    def of(cls, hostname: str, versionstring: str, architecture: str) -> HostInfo:
        """Values cut to what the header's fields hold."""
        return cls(
            fit(hostname, HOSTNAME_SIZE),
            fit(versionstring, VERSIONSTRING_SIZE),
            fit(architecture, ARCH_SIZE),
        )


def fit_panic(panic: str) -> str:
    return fit(panic, PANICSTRING_SIZE_V4)
