"""The signature recipe (DUMPTOOLS.md, version 1) on a table of panics, one row per rule."""

from __future__ import annotations

import pytest

from debugnet.triage.signature import (
    NO_PANIC,
    SIGNATURE_VERSION,
    first_frame,
    normalize,
    signature,
)

TRAP_NUMBERED = """\
Fatal trap 12: page fault while in kernel mode
cpuid = 1; apic id = 01
fault virtual address   = 0x18
KDB: stack backtrace:
#0 0xffffffff80b9009d at kdb_backtrace+0x5d
#1 0xffffffff80b43132 at vpanic+0x132
#2 0xffffffff80b42ff3 at panic+0x43
#3 0xffffffff81010a59 at trap_fatal+0x389
#4 0xffffffff81010aaf at trap_pfault+0x4f
#5 0xffffffff80fe7d28 at calltrap+0x8
#6 0xffffffff80d2f2c1 at tcp_output+0x1a1
#7 0xffffffff80d3a6a3 at tcp_usr_send+0x263
"""

TRAP_DDB = """\
Fatal trap 9: general protection fault while in kernel mode
KDB: stack backtrace:
db_trace_self_wrapper() at db_trace_self_wrapper+0x2b/frame 0xfffffe00c3b1c5d0
vpanic() at vpanic+0x132/frame 0xfffffe00c3b1c700
trap_fatal() at trap_fatal+0x389/frame 0xfffffe00c3b1c760
calltrap() at calltrap+0x8/frame 0xfffffe00c3b1c7e0
--- trap 0x9, rip = 0xffffffff80c1d2b3, rsp = 0xfffffe00c3b1c8b0 ---
__asan_load8() at __asan_load8+0x11/frame 0xfffffe00c3b1c8f0
m_copydata() at m_copydata+0x93/frame 0xfffffe00c3b1c920
vm_fault_hold() at vm_fault_hold+0x77/frame 0xfffffe00c3b1c940
"""

ROWS = [
    # rule 1: the panic string as it is
    ("spin lock held too long", None, "spin lock held too long"),
    # rule 1: an empty panic string falls back to the message buffer's last panic: line
    (
        "",
        "boot\npanic: first\nmore\npanic: vm_fault: fault on nofault entry\n",
        "vm_fault: fault on nofault entry",
    ),
    # rule 2: a trap gets the trap line and the first frame outside the skip list
    ("page fault", TRAP_NUMBERED, "Fatal trap NUM: page fault while in kernel mode in tcp_output"),
    (
        "general protection fault",
        TRAP_DDB,
        "Fatal trap NUM: general protection fault while in kernel mode in vm_fault_hold",
    ),
    # rule 2 without a backtrace: the trap line alone
    (
        "page fault",
        "Fatal trap 12: page fault while in kernel mode\n",
        "Fatal trap NUM: page fault while in kernel mode",
    ),
    # rule 3: build paths
    (
        "Assertion x failed at /usr/home/build/src/sys/kern/vfs_subr.c:1234",
        None,
        "Assertion x failed at sys/kern/vfs_subr.c:LINE",
    ),
    # rule 3: 0x addresses and bare hex runs with a letter
    (
        "Lock (sleep mutex) vm page not owned @ 0xfffff8000ab3c000 owner deadbeef12",
        None,
        "Lock (sleep mutex) vm page not owned @ ADDR owner ADDR",
    ),
    # rule 3: function offsets
    ("bad pte in pmap_remove_pages+0x1a/0x40", None, "bad pte in pmap_remove_pages"),
    # rule 3: IPv4 addresses
    ("in_pcbconnect: 10.0.0.17 already bound", None, "in_pcbconnect: IP already bound"),
    # rule 3: other standalone decimals, not digits inside words
    (
        "ufs_dirbad: /: bad dir ino 1234 at offset 512: mangled entry on amd64",
        None,
        "ufs_dirbad: /: bad dir ino NUM at offset NUM: mangled entry on amd64",
    ),
    # rule 4: non-printable characters and runs of spaces
    ("a\tb \x01 c   d", None, "a b c d"),
    # nothing at all
    ("", None, NO_PANIC),
]


@pytest.mark.parametrize(("panic", "msgbuf", "title"), ROWS)
def test_signature_table(panic: str, msgbuf: str | None, title: str) -> None:
    sig = signature(panic, msgbuf)
    assert sig.title == title
    assert sig.version == SIGNATURE_VERSION


def test_titles_are_distinct_per_row() -> None:
    titles = [signature(p, m).title for p, m, _ in ROWS]
    assert len(set(titles)) == len(titles)


def test_two_crashes_of_one_bug_share_a_title() -> None:
    a = signature("page fault", TRAP_NUMBERED)
    b = signature("page fault", TRAP_NUMBERED.replace("0xffffffff80d2f2c1", "0xffffffff80d2f000"))
    assert a == b


def test_title_is_at_most_120_printable_characters() -> None:
    title = normalize("x" * 500)
    assert len(title) == 120


def test_replacement_runs_until_stable() -> None:
    # f+0x.. must be cut before the hex rule could turn it into f+ADDR
    assert normalize("in foo+0x10/0x20 at 0xabc") == "in foo at ADDR"


def test_first_frame_without_backtrace() -> None:
    assert first_frame("no backtrace here") is None
