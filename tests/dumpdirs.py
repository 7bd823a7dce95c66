"""Dump directories made by hand, as FreeBSD's netdumpd and savecore(8) leave them."""

from __future__ import annotations

import gzip
from pathlib import Path

from debugnet.wire.kdh import KernelDumpHeader
from tests.minidumps import minidump, ring_with

VERSION = "FreeBSD 14.0-RELEASE #0: Fri Nov 10 05:57:23 UTC 2023\n    root@build:/usr/obj/GENERIC\n"

TRAP_MSGBUF = (
    b"<6>ada0 at ahcich0\n"
    b"Fatal trap 12: page fault while in kernel mode\n"
    b"cpuid = 1; apic id = 01\n"
    b"KDB: stack backtrace:\n"
    b"#0 0xffffffff80b9009d at kdb_backtrace+0x5d\n"
    b"#1 0xffffffff80b43132 at vpanic+0x132\n"
    b"#2 0xffffffff80d2f2c1 at tcp_output+0x1a1\n"
)


def trap_minidump(msgbuf: bytes = TRAP_MSGBUF) -> bytes:
    return minidump(ring_with(msgbuf, 2000, 5000), wseq=5000)


def netdumpd_info(
    host: str, ip: str, panic: str, end: str, length: int, compression: int = 0
) -> bytes:
    kdh = KernelDumpHeader.build(
        architecture="amd64",
        hostname=f"{host}.example.org",
        versionstring=VERSION,
        panicstring=panic,
        dumplength=length,
        dumptime=1_700_000_000,
        compression=compression,
    )
    head = f"Dump from {host} [{ip}]\n".encode()
    return head + kdh.info_lines() + (end.encode() + b"\n" if end else b"")


def write_netdumpd(
    directory: Path,
    host: str,
    index: int,
    *,
    panic: str = "page fault",
    end: str = "Dump complete",
    core: bytes | None = None,
    compress: bool = False,
    ip: str = "192.0.2.7",
) -> Path:
    """info.<host>.<N> and vmcore.<host>.<N>[.gz] as netdumpd writes them; returns the core."""
    directory.mkdir(parents=True, exist_ok=True)
    data = trap_minidump() if core is None else core
    body = gzip.compress(data) if compress else data
    info = netdumpd_info(host, ip, panic, end, len(body), 1 if compress else 0)
    (directory / f"info.{host}.{index}").write_bytes(info)
    path = directory / f"vmcore.{host}.{index}{'.gz' if compress else ''}"
    path.write_bytes(body)
    (directory / f"bounds.{host}").write_text(f"{index + 1}\n")
    return path


SAVECORE_INFO = """\
Dump header from device /dev/ada0p3
  Architecture: amd64
  Architecture Version: 2
  Dump Length: {length}
  Blocksize: 512
  Compression: none
  Dumptime: 2023-11-14 22:13:20 +0000
  Hostname: {hostname}
  Magic: FreeBSD Kernel Dump
  Version String: {version}  Panic String: {panic}
  Dump Parity: 1409812571
  Bounds: {bounds}
  Dump Status: {status}
"""


def write_savecore(
    directory: Path,
    index: int,
    *,
    hostname: str = "web1.example.org",
    panic: str = "general protection fault",
    status: str = "good",
    core: bytes | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = trap_minidump() if core is None else core
    info = SAVECORE_INFO.format(
        length=len(data),
        hostname=hostname,
        version=VERSION,
        panic=panic,
        bounds=index + 1,
        status=status,
    )
    (directory / f"info.{index}").write_text(info)
    path = directory / f"vmcore.{index}"
    path.write_bytes(data)
    (directory / "bounds").write_text(f"{index + 1}\n")
    for name, target in (("info.last", f"info.{index}"), ("vmcore.last", f"vmcore.{index}")):
        link = directory / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)
    return path
