"""netgdb's pieces without sockets: framer, packets, memory image, registers, stub, target."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from debugnet.errors import InvalidArgument, WireError
from debugnet.netgdb.amd64 import BY_NAME, REGISTERS, RegisterFile, target_xml
from debugnet.netgdb.framer import GdbFramer, split_unit
from debugnet.netgdb.image import MemoryImage
from debugnet.netgdb.packet import checksum, escape, frame, unescape, unframe
from debugnet.netgdb.proxy_core import ProxyCore
from debugnet.netgdb.stub import GdbStub, StubState
from debugnet.netgdb.target import NetgdbTarget, TargetConfig
from debugnet.wire.constants import NETGDB_AUX2
from debugnet.wire.message import ACK, HEADER, MsgType

# -- framer and packets ---------------------------------------------------------


def test_framer_cuts_units_across_reads() -> None:
    stream = b"+$m10,4#c2-\x03$X0,2:}\x03*#00%Stop:T05#aa+"
    for cut in range(len(stream) + 1):
        f = GdbFramer()
        units = f.feed(stream[:cut]) + f.feed(stream[cut:])
        assert units == [
            b"+",
            b"$m10,4#c2",
            b"-",
            b"\x03",
            b"$X0,2:}\x03*#00",  # escapes and run-length markers passed through
            b"%Stop:T05#aa",
            b"+",
        ]
        assert f.pending == 0


def test_split_unit_gives_offsets_and_single_characters() -> None:
    assert split_unit(b"+", 1448) == [(b"+", 0)]
    assert split_unit(b"abcdefg", 3) == [(b"abc", 0), (b"def", 3), (b"g", 6)]


def test_packet_helpers() -> None:
    assert frame(b"OK") == b"$OK#9a"
    assert unframe(b"$OK#9a") == b"OK"
    with pytest.raises(WireError):
        unframe(b"$OK#9b")
    with pytest.raises(WireError):
        unframe(b"OK")
    raw = bytes(range(256))
    assert unescape(escape(raw)) == raw
    assert not set(b"#$*").intersection(escape(raw))
    assert checksum(b"g") == 0x67


# -- memory image and registers -------------------------------------------------


def test_raw_image_at_address_reads_short_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(bytes(range(100)))
    mem = MemoryImage.open(f"{path}@0x1000")
    assert mem.read(0x1000, 4) == b"\x00\x01\x02\x03"
    assert mem.read(0x1060, 10) == bytes(range(96, 100))
    assert mem.read(0xFFF, 4) == b""
    assert mem.write(0x1010, b"\xff\xfe")
    assert mem.read(0x100F, 4) == b"\x0f\xff\xfe\x12"
    assert not mem.write(0x1063, b"ab")  # runs past the end: nothing written
    assert path.read_bytes() == bytes(range(100))


def _elf_core(segments: list[tuple[int, bytes, int]]) -> bytes:
    """A little 64-bit ELF core: (vaddr, file bytes, memsz) per PT_LOAD."""
    phoff, n = 64, len(segments)
    data_at = phoff + 56 * n
    head = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9))
    head += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56, n, 0, 0, 0)
    body = b""
    for vaddr, content, memsz in segments:
        head += struct.pack(
            "<IIQQQQQQ", 1, 6, data_at + len(body), vaddr, 0, len(content), memsz, 4096
        )
        body += content
    return bytes(head) + body


def test_elf_core_segments(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(_elf_core([(0x2000, b"B" * 16, 32), (0x1000, b"A" * 8, 8)]))
    mem = MemoryImage.open(str(path))
    assert mem.read(0x1000, 8) == b"A" * 8
    assert mem.read(0x2000, 40) == b"B" * 16 + bytes(16)  # memsz beyond filesz reads as zeros
    assert mem.read(0x1008, 1) == b""
    assert mem.write(0x2018, b"zz") and mem.read(0x2016, 4) == b"\x00\x00zz"


def test_image_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        MemoryImage.open(f"{tmp_path}/missing")
    with pytest.raises(InvalidArgument):
        MemoryImage.open(f"{tmp_path}/x@zz")
    bad = tmp_path / "elf32"
    bad.write_bytes(b"\x7fELF\x01" + bytes(60))
    with pytest.raises(InvalidArgument):
        MemoryImage.open(str(bad))


def test_register_file(tmp_path: Path) -> None:
    path = tmp_path / "regs"
    path.write_text("rip=0xffffffff80001234\n# comment\nrsp 4096\neflags 0x246\n")
    regs = RegisterFile.load(path)
    assert regs.get(BY_NAME["rip"]) == 0xFFFFFFFF80001234
    assert regs.get(BY_NAME["eflags"]) == 0x246
    assert len(regs.raw()) == sum(r.bits // 8 for r in REGISTERS)
    path.write_text("xyz 1\n")
    with pytest.raises(InvalidArgument):
        RegisterFile.load(path)
    xml = target_xml()
    assert b"org.gnu.gdb.i386.core" in xml and b'name="mxcsr"' in xml


# -- stub -------------------------------------------------------------------------


def stub_with_memory(tmp_path: Path, run_time: float = 0.0) -> GdbStub:
    path = tmp_path / "m.bin"
    path.write_bytes(bytes(range(256)))
    return GdbStub(MemoryImage.open(f"{path}@0x4000"), run_time=run_time, packet_size=256)


def ask(stub: GdbStub, body: bytes, now: float = 0.0) -> list[bytes]:
    stub.receive(frame(body), now)
    return stub.take_output()


def test_stub_initial_stop_and_basic_packets(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path)
    (stop,) = stub.take_output()
    assert stop.startswith(b"$T05")
    assert ask(stub, b"qSupported:xmlRegisters=i386") == [
        b"+",
        frame(b"PacketSize=100;qXfer:features:read+;QStartNoAckMode+"),
    ]
    assert ask(stub, b"m4010,4") == [b"+", frame(b"10111213")]
    assert ask(stub, b"m4000,200")[1] == frame(bytes(range(126)).hex().encode())  # PacketSize
    assert ask(stub, b"m0,4") == [b"+", frame(b"E0e")]
    assert ask(stub, b"M4000,2:aabb") == [b"+", frame(b"OK")]
    assert ask(stub, b"X4002,2:" + escape(b"#$")) == [b"+", frame(b"OK")]
    assert ask(stub, b"m4000,4") == [b"+", frame(b"aabb2324")]
    assert ask(stub, b"qAttached") == [b"+", frame(b"1")]
    assert ask(stub, b"vMustReplyEmpty") == [b"+", frame(b"")]
    stub.receive(b"$m4000,1#00", 0.0)  # bad checksum
    assert stub.take_output() == [b"-"]
    stub.receive(b"-", 0.0)  # gdb asks again for the last packet
    assert stub.take_output() == [frame(b"")]


def test_stub_registers(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path)
    stub.take_output()
    assert ask(stub, b"P10=efbeadde00000000") == [b"+", frame(b"OK")]
    assert ask(stub, b"p10") == [b"+", frame(b"efbeadde00000000")]
    g = ask(stub, b"g")[1]
    assert unframe(g)[16 * 16 : 17 * 16] == b"efbeadde00000000"
    assert ask(stub, b"G" + unframe(g)) == [b"+", frame(b"OK")]
    assert ask(stub, b"G00") == [b"+", frame(b"E16")]
    assert ask(stub, b"P10=00") == [b"+", frame(b"E16")]


def test_stub_target_description_in_pieces(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path)
    stub.take_output()
    xml = b""
    offset = 0
    while True:
        reply = unframe(ask(stub, b"qXfer:features:read:target.xml:%x,80" % offset)[1])
        xml += unescape(reply[1:])
        offset += 0x80
        if reply[:1] == b"l":
            break
    assert xml == target_xml()


def test_stub_no_ack_mode_continue_interrupt_detach(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path, run_time=5.0)
    stub.take_output()
    assert ask(stub, b"QStartNoAckMode") == [b"+", frame(b"OK")]
    assert ask(stub, b"s")[0].startswith(b"$T05")  # no acks any more
    assert ask(stub, b"c", 1.0) == []
    assert stub.state is StubState.RUNNING and stub.next_deadline() == 6.0
    stub.receive(b"\x03", 2.0)
    (stop,) = stub.take_output()
    assert stop.startswith(b"$T02") and stub.state is StubState.STOPPED
    assert ask(stub, b"c", 3.0) == []
    stub.handle_timer(8.0)
    assert stub.take_output()[0].startswith(b"$T05")
    assert ask(stub, b"D") == [frame(b"OK")]
    assert stub.state is StubState.DETACHED
    assert ask(stub, b"g") == []  # a detached kernel has resumed: silence


# -- the target against the proxy's core, in virtual time --------------------------


def test_target_appends_a_resend_twice_as_the_kernel_does(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path)
    target = NetgdbTarget(stub)
    (herald,) = target.datagrams_to_send(0.0)
    assert HEADER.unpack_from(herald[0])[4] == NETGDB_AUX2 and herald[1] == 20025
    target.receive_datagram(ACK.pack(1), 0.001, 40000)
    assert target.server_port == 40000
    (stop,) = target.datagrams_to_send(0.001)
    mtype, _seqno, offset, length, aux2 = HEADER.unpack_from(stop[0])
    assert (mtype, offset, aux2) == (MsgType.DATA, 0, length) and stop[0][24:25] == b"$"
    req = HEADER.pack(MsgType.DATA, 1, 0, 1, 1) + b"+"
    target.receive_datagram(req, 0.002, 40000)
    target.receive_datagram(req, 0.003, 40000)  # the same seqno again: appended again
    assert target.stats.accepted == 2 and target.conn.stats.rx_duplicates == 0
    acks = [d for d, _ in target.datagrams_to_send(0.004) if len(d) == 4]
    assert acks.count(ACK.pack(1)) == 2


def test_target_withholds_acks_while_its_buffer_is_full(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path)
    target = NetgdbTarget(stub, TargetConfig(rx_buffer=8))
    target.datagrams_to_send(0.0)
    target.receive_datagram(ACK.pack(1), 0.0, 40000)
    target.datagrams_to_send(0.0)
    first = HEADER.pack(MsgType.DATA, 1, 0, 6, 6) + b"$m4000"
    second = HEADER.pack(MsgType.DATA, 2, 6, 6, 12) + b",1#fd?"
    target.receive_datagram(first, 0.1, 40000)
    target.receive_datagram(second, 0.1, 40000)  # 12 bytes > 8: refused, not acked
    out = [d for d, _ in target.datagrams_to_send(0.1)]
    assert ACK.pack(1) in out and ACK.pack(2) not in out
    assert target.stats.refused == 1
    target.receive_datagram(second, 0.2, 40000)  # the stub took the first: room now
    out = [d for d, _ in target.datagrams_to_send(0.2)]
    assert ACK.pack(2) in out


def test_target_ends_on_the_proxys_finished_without_acking_it(tmp_path: Path) -> None:
    stub = stub_with_memory(tmp_path)
    target = NetgdbTarget(stub)
    target.datagrams_to_send(0.0)
    target.receive_datagram(ACK.pack(1), 0.0, 40000)
    target.receive_datagram(HEADER.pack(MsgType.FINISHED, 5, 0, 0, 0), 0.1, 40000)
    assert target.done and target.end_reason == "proxy FINISHED"
    assert not [d for d, _ in target.datagrams_to_send(0.1) if d == ACK.pack(5)]


def test_target_and_proxy_core_talk_in_virtual_time(tmp_path: Path) -> None:
    """Datagrams shuttled between a NetgdbTarget and a KernelSession: gdb bytes both ways."""
    core = ProxyCore()
    stub = stub_with_memory(tmp_path)
    target = NetgdbTarget(stub)
    (herald,) = target.datagrams_to_send(0.0)
    _v, session = core.herald(herald[0], ("192.0.2.1", 20026), 0.0)
    assert session is not None
    session.gdb_connected("gdb")
    now = 0.0
    gdb_in = b""
    session.gdb_data(frame(b"m4080,8") + b"+" + frame(b"k"))
    for _ in range(200):
        now += 0.0005
        for d in session.datagrams_to_send(now):
            target.receive_datagram(d, now, 40000)
        for d, _port in target.datagrams_to_send(now):
            session.receive_datagram(d, now)
        gdb_in += session.take_gdb_output()
        if target.done:
            break
    assert gdb_in.startswith(b"$T05")
    assert b"+" + frame(bytes(range(0x80, 0x88)).hex().encode()) in gdb_in
    assert target.end_reason == "target FINISHED"
    assert session.end_reason is not None and session.gdb_should_close


@pytest.mark.parametrize(
    "module", ["framer", "packet", "stub", "amd64", "session", "proxy_core", "target"]
)
def test_netgdb_cores_do_no_io(module: str) -> None:
    """Only proxy.py (and the CLI) touch sockets and clocks; image.py only its file."""
    from tests.test_layers import BANNED, SRC, imports

    names = imports(SRC / "netgdb" / f"{module}.py")
    assert not {n for n in names if n.split(".")[0] in BANNED}
    assert all(n.split(".")[0] in {"debugnet", "__future__"} or n in _STDLIB for n in names)


_STDLIB = {"bisect", "collections", "collections.abc", "dataclasses", "enum", "ipaddress",
           "logging", "mmap", "struct", "pathlib", "typing"}  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["netgdb-target", "-s", "127.0.0.1", "--image", "/nonexistent/mem.bin@0x1000"],
        ["netgdb-target", "-s", "127.0.0.1", "--image", "x@notanaddress"],
        ["netgdb-proxy", "--allow", "300.1.2.3/8"],
        ["netgdb-proxy", "--timeout", "-1"],
        ["netgdb-proxy", "--gdb-port", "70000"],
    ],
)
def test_cli_user_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from debugnet.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"debugnet {argv[0]}: "), err
