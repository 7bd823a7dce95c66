"""The netdump client: section 7 message order, the KDH it builds, compression, in sim time."""

from __future__ import annotations

import errno
import gzip
import io
import os
import pathlib
import random

import pytest
import zstandard

from debugnet.errors import ErrnoError, NoEntry, NotSupported
from debugnet.netdump.client import NetdumpClient, herald_data
from debugnet.netdump.compress import GzipCompressor, ZstdCompressor, make_compressor
from debugnet.netdump.dump import DumpOptions, DumpProducer, Outgoing
from debugnet.netdump.host import HostInfo
from debugnet.netdump.source import open_source, source_of
from debugnet.sim import Link, LinkConfig, Simulator
from debugnet.transport.config import Mode, TransportConfig
from debugnet.wire.ekcd import EncryptionAlgorithm, KeyRecord
from debugnet.wire.kdh import Compression, KernelDumpHeader
from debugnet.wire.message import MsgType
from tests.simnet import SimServer, assert_key_before_data, frame, unframe

HOST = HostInfo.of("crashbox", "FreeBSD 14.1-RELEASE GENERIC\n", "amd64")
KEY = KeyRecord(EncryptionAlgorithm.CHACHA20, bytes(range(32)), b"\x55" * 256).emit(512)


def options(**kw: object) -> DumpOptions:
    base: dict[str, object] = {"host": HOST, "panic": "page fault", "dumptime": 1_700_000_000}
    base.update(kw)
    return DumpOptions(**base)  # type: ignore[arg-type]


def messages(data: bytes, size: int | None, **kw: object) -> list[Outgoing]:
    return list(DumpProducer(io.BytesIO(data), size, options(**kw)).messages())


def run_sim(
    producer: DumpProducer,
    mode: Mode = Mode.WINDOW,
    loss: float = 0.0,
    path: str | None = None,
    seed: int = 1,
) -> tuple[NetdumpClient, SimServer]:
    sim = Simulator()
    server = SimServer(sim)
    dump = NetdumpClient(producer, TransportConfig(mode=mode), path=path, max_queued=64)

    def deliver(data: bytes) -> None:
        parts = unframe(data)
        if parts is not None:
            dump.receive_datagram(parts[2], sim.now, parts[0])
            pump()

    cfg = LinkConfig(rate_bps=1e9, delay=0.0005, loss=loss)
    up = Link(sim, cfg, server.deliver, seed=2 * seed - 1)
    server.out = Link(sim, cfg, deliver, seed=2 * seed)
    timer = None

    def pump() -> None:
        nonlocal timer
        for data, port in dump.datagrams_to_send(sim.now):
            up.send(frame(20024, port, data))
        if timer is not None:
            timer.cancel()
        deadline = dump.next_deadline()
        timer = None if deadline is None else sim.call_at(max(deadline, sim.now), fire)

    def fire() -> None:
        dump.handle_timer(sim.now)
        pump()

    pump()
    while not dump.done and dump.error is None and sim.step():
        pass
    return dump, server


def test_order_key_kdh_data_when_size_known() -> None:
    data = random.Random(1).randbytes(200_000)
    got = messages(data, len(data), key=KEY)
    assert [m.type for m in got[:2]] == [MsgType.EKCD_KEY, MsgType.KDH]
    assert got[0].data == KEY
    chunks = got[2:]
    assert all(m.type == MsgType.DATA for m in chunks)
    assert [m.offset for m in chunks] == [0, 65536, 131072, 196608]
    assert max(len(m.data) for m in chunks) == 65536
    assert b"".join(m.data for m in chunks) == data
    kdh = KernelDumpHeader.parse(got[1].data)
    assert kdh.parity_ok and kdh.version == 4
    assert (kdh.dumplength, kdh.dumpextent, kdh.dumpkeysize) == (200_000, 200_000, len(KEY))
    assert (kdh.hostname, kdh.architecture, kdh.panicstring) == ("crashbox", "amd64", "page fault")
    assert kdh.versionstring == "FreeBSD 14.1-RELEASE GENERIC\n"
    assert (kdh.blocksize, kdh.dumptime, kdh.compression) == (4096, 1_700_000_000, 0)


def test_unknown_length_puts_kdh_after_data() -> None:
    data = b"z" * 70_000
    got = messages(data, None)
    assert [m.type for m in got] == [MsgType.DATA, MsgType.DATA, MsgType.KDH]
    assert KernelDumpHeader.parse(got[-1].data).dumplength == 70_000


def test_short_source_sends_a_corrected_kdh() -> None:
    got = messages(b"a" * 1000, 5000)
    assert [m.type for m in got] == [MsgType.KDH, MsgType.DATA, MsgType.KDH]
    assert KernelDumpHeader.parse(got[0].data).dumplength == 5000
    assert KernelDumpHeader.parse(got[-1].data).dumplength == 1000


@pytest.mark.parametrize(
    ("compressor", "decompress", "kind"),
    [
        (GzipCompressor, gzip.decompress, Compression.GZIP),
        (
            ZstdCompressor,
            lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
            Compression.ZSTD,
        ),
    ],
)
def test_compressed_stream_and_header(
    compressor: type, decompress: object, kind: Compression
) -> None:
    data = (b"kernel memory " * 20_000) + random.Random(2).randbytes(100_000)
    got = messages(data, len(data), compressor=compressor())
    assert got[-1].type == MsgType.KDH and got[0].type == MsgType.DATA
    body = b"".join(m.data for m in got if m.type == MsgType.DATA)
    assert decompress(body) == data  # type: ignore[operator]
    kdh = KernelDumpHeader.parse(got[-1].data)
    assert kdh.compression == kind
    assert kdh.dumplength == len(body) < len(data)
    assert kdh.dumpextent == len(data)
    offsets = [m.offset for m in got if m.type == MsgType.DATA]
    assert offsets == list(range(0, len(body), 65536))


def test_make_compressor_names() -> None:
    assert make_compressor(None) is None and make_compressor("none") is None
    assert make_compressor("gzip").kind == Compression.GZIP  # type: ignore[union-attr]
    with pytest.raises(NotSupported):
        make_compressor("lz4")


def test_host_fields_are_cut_to_fit() -> None:
    host = HostInfo.of("h" * 100, "v" * 300, "averyveryverylongarch")
    assert (len(host.hostname), len(host.versionstring), len(host.architecture)) == (63, 191, 11)
    got = messages(b"x", 1, host=host, panic="p" * 500)
    assert len(KernelDumpHeader.parse(got[0].data).panicstring) == 174
    assert HostInfo.detect().architecture


def test_herald_path_is_nul_terminated() -> None:
    assert herald_data(None) == b"" and herald_data("") == b""
    assert herald_data("rack4/db") == b"rack4/db\0"


@pytest.mark.parametrize("mode", [Mode.SEED, Mode.WINDOW])
@pytest.mark.parametrize("compress", [None, "gzip"])
def test_dump_through_a_lossy_sim_to_a_server_session(mode: Mode, compress: str | None) -> None:
    data = (b"\0" * 100_000) + random.Random(3).randbytes(150_000)
    producer = DumpProducer(
        io.BytesIO(data), len(data), options(key=KEY, compressor=make_compressor(compress))
    )
    dump, server = run_sim(producer, mode, loss=0.05, path="lab")
    assert dump.error is None and dump.done
    seen = server.seen
    assert seen.paths == ["lab"] and seen.finished == [True]
    assert seen.keys == [[KEY]]
    body = bytes(seen.files[0])
    assert (gzip.decompress(body) if compress else body) == data
    kdh = KernelDumpHeader.parse(seen.kdhs[0][-1])
    assert kdh.dumplength == len(body)
    assert_key_before_data(seen.order[0])
    assert seen.order[0][-1] == MsgType.FINISHED
    assert dump.progress.bytes_acked >= len(body)


@pytest.mark.parametrize("mode", [Mode.SEED, Mode.WINDOW])
def test_key_before_any_data_over_many_lossy_runs(mode: Mode) -> None:
    # PROTOCOL.md 7.3: with loss, a lost key packet must still hold back the
    # KDH and every DATA packet queued behind it.
    data = random.Random(3).randbytes(150_000)
    for seed in range(1, 41):
        producer = DumpProducer(io.BytesIO(data), len(data), options(key=KEY))
        dump, server = run_sim(producer, mode, loss=0.1, seed=seed)
        assert dump.error is None and dump.done, seed
        assert bytes(server.seen.files[0]) == data
        assert_key_before_data(server.seen.order[0])


class _BadDisk(io.RawIOBase):
    """Readable for ``good`` bytes, then EIO, as a failing block device."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray) -> int:  # type: ignore[override]
        if not self.left:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        n = min(len(buf), self.left)
        buf[:n] = b"d" * n
        self.left -= n
        return n


def test_read_error_names_the_source_and_the_byte() -> None:
    producer = DumpProducer(_BadDisk(70_000), 200_000, options(), name="/dev/ada0")  # type: ignore[arg-type]
    with pytest.raises(ErrnoError) as info:
        list(producer.messages())
    assert info.value.errno == errno.EIO
    assert str(info.value) == "/dev/ada0: read failed at byte 70000: Input/output error"


def test_sources(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "core"
    f.write_bytes(b"abc" * 10)
    with open_source(str(f)) as src:
        assert src.size == 30 and src.stream.read() == b"abc" * 10
    with pytest.raises(NoEntry):
        open_source(str(tmp_path / "missing"))
    assert source_of(b"xyz").size == 3
    with open(f, "rb") as stream:
        assert source_of(stream).name == str(f)  # errors can name the path
    r, w = os.pipe()
    with open(r, "rb") as pipe_end:
        os.close(w)
        assert source_of(pipe_end).size is None
