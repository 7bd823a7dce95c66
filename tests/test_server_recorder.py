"""The dump recorder without a live server: events in, info lines and files out.

Driven with a real ServerSession in virtual time, against the in-memory store
and against the dump directory, which must end up saying the same thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from debugnet.errors import LocalProtocolError
from debugnet.server.endings import Ending, Outcome
from debugnet.server.recorder import DumpRecorder, format_holes
from debugnet.storage.directory import DirectoryStore
from debugnet.storage.interface import DumpRequest, DumpStore, StorageCutShort
from debugnet.transport.server_session import Herald, ServerSession, SessionConfig, SessionState
from debugnet.wire.kdh import Compression, KernelDumpHeader
from debugnet.wire.message import Message, MsgType
from tests.memstore import MemorySink, MemoryStore
from tests.serverutil import kdh

REQUEST = DumpRequest("192.0.2.7", "crashy.example", None)
KDH_LINES = KernelDumpHeader.parse(kdh(6)).info_lines()


def msg(t: MsgType, seq: int, data: bytes = b"", off: int = 0) -> bytes:
    return Message.build(t, seq, data, offset=off).emit()


class Shell:
    """The worker's part in virtual time: feed datagrams, hand every event to the recorder."""

    def __init__(
        self, store: DumpStore, timeout: float = 600.0, request: DumpRequest = REQUEST
    ) -> None:
        self.session = ServerSession(Herald(1), 0.0, SessionConfig(timeout=timeout, linger=5.0))
        self.recorder = DumpRecorder(self.session, store, request)
        self.outcomes: list[Ending] = []
        self.seq = 1

    def send(self, t: MsgType, data: bytes = b"", off: int = 0, now: float = 1.0) -> None:
        self.seq += 1
        self.session.receive_datagrams([msg(t, self.seq, data, off)], now)
        self.drain(now)

    def timer(self, now: float) -> None:
        self.session.handle_timer(now)
        self.drain(now)

    def drain(self, now: float) -> None:
        while (ev := self.session.next_event()) is not None:
            outcome = self.recorder.handle(ev, now)
            if outcome is not None:
                self.outcomes.append(outcome)

    def acks(self) -> list[int]:
        return [int.from_bytes(a, "big") for a in self.session.datagrams_to_send(0.0)]


def opened(store: MemoryStore | None = None, **kw: float) -> tuple[Shell, MemorySink]:
    store = store or MemoryStore()
    shell = Shell(store, **kw)
    assert shell.recorder.open()
    return shell, store.sinks[-1]


def test_outcomes_are_netdumpds_handler_words() -> None:
    assert [str(o) for o in Outcome] == ["success", "error", "timeout"]


def test_complete_dump_info_lines_and_ack_after_sync() -> None:
    shell, sink = opened()
    shell.send(MsgType.KDH, kdh(6))
    shell.send(MsgType.DATA, b"abc", 0)
    shell.send(MsgType.DATA, b"def", 3)
    assert shell.acks() == [1, 2, 3, 4]
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.COMPLETE]
    assert sink.synced == 1 and sink.published and sink.closed
    assert shell.acks() == [5]  # FINISHED acked only after the sync
    assert bytes(sink.data) == b"abcdef"
    assert bytes(sink.info_text) == (
        b"Dump from crashy.example [192.0.2.7]\n" + KDH_LINES + b"Dump complete\n"
    )
    assert shell.session.state is SessionState.LINGER


def test_holes_are_listed_and_the_outcome_is_error() -> None:
    shell, sink = opened()
    shell.send(MsgType.KDH, kdh(0x30))
    shell.send(MsgType.DATA, b"x" * 0x10, 0x10)
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.HOLES]
    assert sink.info_text.endswith(b"Dump incomplete: 32 bytes missing at 0x0-0x10, 0x20-0x30\n")
    assert shell.acks()[-1] == 4  # still acked: the client's part is over


def test_hole_list_is_cut_after_eight() -> None:
    holes = [(i * 2, i * 2 + 1) for i in range(10)]
    assert format_holes(holes).endswith("0xe-0xf, ... (2 more)")


def test_short_kdh_fails_the_dump_as_bad_kdh() -> None:
    shell, sink = opened()
    shell.send(MsgType.KDH, b"k" * 100)
    assert shell.recorder.kdh is None
    shell.send(MsgType.DATA, b"abc", 0)
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.BAD_KDH]
    assert Ending.BAD_KDH.handler == Outcome.ERROR
    assert sink.info_text.endswith(b"Bad KDH: packet too small\n")


def test_no_kdh_is_complete_up_to_the_last_byte_and_says_so() -> None:
    shell, sink = opened()
    shell.send(MsgType.DATA, b"abc", 0)
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.COMPLETE]
    assert sink.info_text.endswith(b"No kernel dump header\nDump complete\n")


def test_no_kdh_with_a_hole_is_incomplete() -> None:
    shell, sink = opened()
    shell.send(MsgType.DATA, b"abc", 0)
    shell.send(MsgType.DATA, b"xyz", 10)
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.HOLES]
    assert sink.info_text.endswith(b"Dump incomplete: 7 bytes missing at 0x3-0xa\n")


@pytest.mark.parametrize("first", [MsgType.KDH, MsgType.EKCD_KEY, MsgType.FINISHED])
def test_a_dump_without_data_is_not_complete(first: MsgType) -> None:
    shell, sink = opened()
    if first is MsgType.KDH:
        shell.send(MsgType.KDH, kdh(0))
    elif first is MsgType.EKCD_KEY:
        shell.send(MsgType.EKCD_KEY, b"key", 0)
    shell.send(MsgType.FINISHED)
    assert shell.outcomes == [Ending.NO_DATA]
    assert sink.info_text.endswith(b"\nDump incomplete: no data\n")
    assert Ending.NO_DATA.handler == Outcome.ERROR


def test_twenty_thousand_kdhs_write_one_block() -> None:
    shell, sink = opened()
    for _ in range(20_000):
        shell.send(MsgType.KDH, kdh(6))
    shell.send(MsgType.DATA, b"abcdef", 0)
    shell.send(MsgType.FINISHED)
    assert bytes(sink.info_text) == (
        b"Dump from crashy.example [192.0.2.7]\n" + KDH_LINES + b"Dump complete\n"
    )


def test_a_different_kdh_is_recorded_once_at_the_end() -> None:
    shell, sink = opened()
    for n in range(1000):
        shell.send(MsgType.KDH, kdh(6 + n % 3))
    shell.send(MsgType.DATA, b"abcdefgh", 0)
    shell.send(MsgType.FINISHED)
    newest = KernelDumpHeader.parse(kdh(6 + 999 % 3)).info_lines()
    text = bytes(sink.info_text)
    assert text.count(b"Dump Length:") == 2
    assert text.endswith(b"; the newest:\n" + newest + b"Dump complete\n")
    assert shell.recorder.kdh is not None and shell.recorder.kdh.dumplength == 6


def test_client_strings_cannot_forge_a_status_line() -> None:
    shell, sink = opened()
    raw = kdh(
        3,
        hostname="evil\nDump complete",
        panicstring="oops\nDump complete\r\x1b[2J",
        versionstring="FreeBSD 15.0\nDump complete\n  root@build:/usr/obj/GENERIC\n",
    )
    shell.send(MsgType.KDH, raw)
    shell.send(MsgType.DATA, b"ab", 0)  # one byte short
    shell.send(MsgType.FINISHED)
    lines = bytes(sink.info_text).split(b"\n")
    assert [line for line in lines if line.startswith(b"Dump ")] == [
        b"Dump from crashy.example [192.0.2.7]",
        b"Dump incomplete: 1 bytes missing at 0x2-0x3",
    ]
    text = bytes(sink.info_text)
    assert b"  Hostname: evil\\nDump complete\n" in text
    assert b"  Panic String: oops\\nDump complete\\r\\x1b[2J\n" in text
    assert (  # the kernel's two-line version string keeps its shape
        b"  Version String: FreeBSD 15.0\\nDump complete\n  root@build:/usr/obj/GENERIC\n" in text
    )


def test_the_info_file_is_bounded_and_still_ends_with_the_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import debugnet.server.recorder as recorder

    monkeypatch.setattr(recorder, "INFO_LIMIT", 300)
    shell, sink = opened()
    shell.send(MsgType.KDH, kdh(6, panicstring="\x01" * 170))  # escaped: four times longer
    shell.send(MsgType.KDH, kdh(7, panicstring="\x02" * 170))
    shell.send(MsgType.DATA, b"abcdef", 0)
    shell.send(MsgType.FINISHED)
    assert len(sink.info_text) <= 300 + len(b"Dump incomplete: 1 bytes missing at 0x6-0x7\n")
    assert sink.info_text.startswith(b"Dump from ")
    assert sink.info_text.endswith(b"Dump incomplete: 1 bytes missing at 0x6-0x7\n")


def test_compressed_dump_is_named_and_cut_to_the_kdh_length() -> None:
    shell, sink = opened()
    shell.send(MsgType.KDH, kdh(4, compression=Compression.ZSTD))
    assert sink.core_path.name == "vmcore.crashy.example.0.zst"
    shell.send(MsgType.DATA, b"abcdefgh", 0)  # the kernel pads the last block
    shell.send(MsgType.FINISHED)
    assert bytes(sink.data) == b"abcd"


def test_key_pieces_go_to_the_key_at_their_offsets() -> None:
    shell, sink = opened()
    shell.send(MsgType.EKCD_KEY, b"ke", 0)
    shell.send(MsgType.EKCD_KEY, b"y!", 2)
    assert bytes(sink.key) == b"key!"


def test_timeout_syncs_and_says_so() -> None:
    shell, sink = opened(timeout=5.0)
    shell.send(MsgType.DATA, b"abc", 0, now=1.0)
    shell.timer(5.9)
    assert shell.outcomes == []
    shell.timer(6.0)
    assert shell.outcomes == [Ending.TIMED_OUT]
    assert sink.synced == 1 and not sink.published
    assert sink.info_text.endswith(b"Dump incomplete: client timed out\n")


def test_a_stop_by_the_server_says_so() -> None:
    shell, sink = opened()
    shell.send(MsgType.DATA, b"abc", 0)
    shell.recorder.stop_ending = Ending.SERVER_STOPPED
    shell.session.time_out(2.0)
    shell.drain(2.0)
    assert shell.outcomes == [Ending.SERVER_STOPPED]
    assert sink.info_text.endswith(b"Dump incomplete: server stopped\n")
    assert Ending.SERVER_STOPPED.handler == Outcome.TIMEOUT


def test_storage_failure_fails_the_session_and_acks_nothing() -> None:
    shell, sink = opened()
    sink.fail_at = 0x20000
    shell.send(MsgType.DATA, b"a" * 16, 0x20000 - 8)
    assert shell.outcomes == [Ending.WRITE_ERROR]
    assert shell.session.state is SessionState.FAILED
    assert shell.acks() == []
    assert sink.info_text.endswith(
        b"Dump unsuccessful: write error @ offset 00020000: No space left on device\n"
    )


def test_a_store_that_cannot_take_more_ends_the_dump_incomplete() -> None:
    """An unreachable object store or a full spool is a limit, not a write error."""
    shell, sink = opened()
    cut = StorageCutShort(0x20000, OSError(110, "object store unreachable for 30 s (timeout)"))

    def refuse(offset: int, pieces: object, length: int) -> None:
        raise cut

    sink.write_at = refuse  # type: ignore[method-assign]
    shell.send(MsgType.DATA, b"a" * 16, 0x20000)
    assert shell.outcomes == [Ending.LIMIT]
    assert shell.session.state is SessionState.FAILED and shell.acks() == []
    assert sink.info_text.endswith(
        b"Dump incomplete: object store unreachable for 30 s (timeout)\n"
    )


def test_abort_ends_an_open_dump_once() -> None:
    shell, sink = opened()
    assert shell.recorder.abort() == Ending.INTERNAL_ERROR
    assert shell.recorder.abort() is None
    assert sink.info_text.endswith(b"Dump unsuccessful: internal error\n")


def test_no_dump_when_the_store_is_full() -> None:
    store = MemoryStore(limit=0)
    shell = Shell(store)
    assert not shell.recorder.open()
    assert shell.recorder.sink is None and store.sinks == []


def test_confirm_cannot_run_twice() -> None:
    shell, _sink = opened()
    shell.send(MsgType.FINISHED)
    with pytest.raises(LocalProtocolError):
        shell.session.confirm_finished(2.0)


def test_directory_backend_writes_what_memory_records(tmp_path: Path) -> None:
    """The same dump through both backends: the files hold what the memory sink holds."""
    memory = MemoryStore()
    directory = DirectoryStore(tmp_path)
    for store in (memory, directory):
        shell = Shell(store)
        assert shell.recorder.open()
        shell.send(MsgType.EKCD_KEY, b"key", 0)
        shell.send(MsgType.KDH, kdh(6, compression=Compression.GZIP))
        shell.send(MsgType.DATA, b"abcdef", 0)
        shell.send(MsgType.FINISHED)
        assert shell.outcomes == [Ending.COMPLETE]
    sink = memory.sinks[0]
    host = REQUEST.host
    assert (tmp_path / f"vmcore.{host}.0.gz").read_bytes() == bytes(sink.data)
    assert (tmp_path / f"info.{host}.0").read_bytes() == bytes(sink.info_text)
    assert (tmp_path / f"key.{host}.0").read_bytes() == bytes(sink.key) == b"key"
    assert (tmp_path / f"vmcore.{host}.last").readlink() == Path(f"vmcore.{host}.0.gz")


def test_a_session_becomes_a_dump_at_its_first_kdh_key_or_data() -> None:
    for first in (MsgType.KDH, MsgType.EKCD_KEY, MsgType.DATA):
        store = MemoryStore()
        shell = Shell(store)
        assert store.sinks == []  # acked herald, nothing created yet
        shell.send(first, kdh(3) if first is MsgType.KDH else b"abc", 0)
        assert len(store.sinks) == 1, first
        assert store.sinks[0].info_text.startswith(b"Dump from crashy.example [192.0.2.7]\n")


def test_a_herald_only_session_leaves_nothing_and_has_no_ending() -> None:
    store = MemoryStore()
    shell = Shell(store, timeout=5.0)
    shell.timer(6.0)
    assert shell.outcomes == [] and store.sinks == []
    assert shell.recorder.herald_only and shell.recorder.ending is None
    finished = Shell(store)
    finished.send(MsgType.FINISHED)
    assert finished.acks() == [1, 2]  # the herald and the FINISHED: nothing to make durable
    assert finished.recorder.herald_only and store.sinks == []


def test_no_dump_index_at_the_first_data_fails_the_session() -> None:
    store = MemoryStore(limit=0)
    shell = Shell(store)
    shell.send(MsgType.DATA, b"abc", 0)
    assert shell.session.state is SessionState.FAILED
    assert shell.outcomes == [] and store.sinks == []
