"""Info files in netdumpd's and savecore's dialects, read back."""

from __future__ import annotations

import pytest

from debugnet.triage.info import DumpState, InfoFormat, parse_info
from debugnet.wire.kdh import KernelDumpHeader

VERSION = (
    "FreeBSD 14.0-RELEASE #0 releng/14.0-n265380-f9716eee8ab4: Fri Nov 10 05:57:23 UTC 2023\n"
    "    root@releng1.nyi.freebsd.org:/usr/obj/usr/src/amd64.amd64/sys/GENERIC\n"
)


def netdumpd_info(end: bytes, *, compression: int = 0) -> bytes:
    kdh = KernelDumpHeader.build(
        architecture="amd64",
        hostname="db3.example.org",
        versionstring=VERSION,
        panicstring="page fault",
        dumplength=1 << 30,
        dumptime=1_700_000_000,
        compression=compression,
    )
    return b"Dump from db3 [192.0.2.7]\n" + kdh.info_lines() + end


@pytest.mark.parametrize(
    ("end", "state", "reason"),
    [
        (b"Dump complete\n", DumpState.COMPLETE, None),
        (b"Dump incomplete: client timed out\n", DumpState.INCOMPLETE, "timed out"),
        (
            b"Dump incomplete: 4096 bytes missing at 0x1000-0x2000\n",
            DumpState.INCOMPLETE,
            "holes: 4096 bytes missing at 0x1000-0x2000",
        ),
        (
            b"Dump unsuccessful: write error @ offset 00100000: No space left on device\n",
            DumpState.FAILED,
            "write error @ offset 00100000: No space left on device",
        ),
        (b"Dump incomplete: server stopped while receiving\n", DumpState.INCOMPLETE, "interrupted"),
        (b"", DumpState.INCOMPLETE, "no end line"),
        (b"Bad KDH: packet too small\nDump complete\n", DumpState.INCOMPLETE, "bad KDH"),
        # our collector ends the dump at a bad KDH, with that line last
        (b"Bad KDH: packet too small\n", DumpState.FAILED, "bad KDH: packet too small"),
        (
            b"Bad KDH: packet too small\nDump incomplete: client timed out\n",
            DumpState.INCOMPLETE,
            "timed out",
        ),
    ],
)
def test_netdumpd_outcomes(end: bytes, state: DumpState, reason: str | None) -> None:
    info = parse_info(netdumpd_info(end))
    assert info.format is InfoFormat.NETDUMPD
    assert (info.outcome.state, info.outcome.reason) == (state, reason)


def test_netdumpd_fields() -> None:
    info = parse_info(netdumpd_info(b"Dump complete\n", compression=2))
    assert (info.host, info.ip) == ("db3", "192.0.2.7")
    assert info.architecture == "amd64" and info.architecture_version == 2
    assert info.length == 1 << 30 and info.blocksize == 512
    assert info.compression == "zstd"
    assert info.dumptime == 1_700_000_000  # ctime in local time, read back in local time
    assert info.hostname == "db3.example.org"
    assert info.version_string == VERSION.rstrip("\n")
    assert info.panic == "page fault" and info.parity_ok is True


SAVECORE = """\
Dump header from device /dev/ada0p3
  Architecture: amd64
  Architecture Version: 2
  Dump Length: 2147483648
  Blocksize: 512
  Compression: none
  Dumptime: 2023-11-14 22:13:20 +0000
  Hostname: web1.example.org
  Magic: FreeBSD Kernel Dump
  Version String: {version}  Panic String: general protection fault
  Dump Parity: 1409812571
  Bounds: 3
  Dump Status: {status}
"""


@pytest.mark.parametrize(
    ("status", "state"), [("good", DumpState.COMPLETE), ("bad", DumpState.INCOMPLETE)]
)
def test_savecore_info(status: str, state: DumpState) -> None:
    info = parse_info(SAVECORE.format(version=VERSION, status=status).encode())
    assert info.format is InfoFormat.SAVECORE
    assert info.device == "/dev/ada0p3"
    assert info.length == 2147483648
    assert info.dumptime == 1_700_000_000
    assert info.hostname == "web1.example.org" and info.magic == "FreeBSD Kernel Dump"
    assert info.version_string == VERSION.rstrip("\n")
    assert info.panic == "general protection fault"
    assert info.bounds == 3 and info.status == status
    assert info.outcome.state is state


def test_garbage_is_no_crash() -> None:
    info = parse_info(b"\xff\xfe\0random\n  Dump Length: lots\n")
    assert info.length is None and info.outcome.state is DumpState.INCOMPLETE
