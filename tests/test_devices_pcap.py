import io
from pathlib import Path

import pytest

from debugnet.devices.hostimport import linux_to_if_flags
from debugnet.devices.pcap import Direction, PcapWriter, capture, read_pcap, uncapture
from debugnet.errors import WireError
from debugnet.ifnet import IfFlags, IfTable
from tests.test_ifnet_support import make_ether, up

FRAME = bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes(46)


def test_round_trip_with_timestamps_and_snaplen(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(path, snaplen=20) as w:
        w.write(FRAME, 1.25)
        w.write(b"\x01" * 14, 2.9999999)
    records = list(read_pcap(path))
    assert records[0] == (1.25, FRAME[:20])
    assert records[1][1] == b"\x01" * 14 and records[1][0] == pytest.approx(3.0)
    raw = path.read_bytes()
    assert raw[:4] == bytes.fromhex("d4c3b2a1") and raw[20:24] == (1).to_bytes(4, "little")
    assert int.from_bytes(raw[24 + 12 : 24 + 16], "little") == len(FRAME)  # orig_len kept


def test_nanosecond_files(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    with PcapWriter(path, nanoseconds=True) as w:
        w.write(FRAME, 5.000000001)
    ((ts, frame),) = read_pcap(path)
    assert frame == FRAME and ts == pytest.approx(5.000000001, abs=1e-10)


@pytest.mark.parametrize("cut", [0, 10, 24 + 8, 24 + 16 + 5])
def test_truncated_files_raise_wire_error(tmp_path: Path, cut: int) -> None:
    buf = io.BytesIO()
    PcapWriter(buf).write(FRAME, 0.0)
    path = tmp_path / "t.pcap"
    path.write_bytes(buf.getvalue()[:cut])
    with pytest.raises(WireError):
        list(read_pcap(path))


def test_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "m.pcap"
    path.write_bytes(bytes(24))
    with pytest.raises(WireError):
        list(read_pcap(path))


def test_direction_filter_and_uncapture() -> None:
    table = IfTable()
    ifp, _ = make_ether()
    table.attach(ifp)
    up(ifp)
    buf = io.BytesIO()
    w = PcapWriter(buf)
    tap = capture(ifp, w, lambda: 0.0, Direction.IN)
    ifp.transmit(FRAME)
    ifp.input(FRAME)
    assert w.frames == 1
    uncapture(ifp, tap)
    ifp.input(FRAME)
    assert w.frames == 1 and ifp.taps == []


def test_scapy_reads_what_we_write(tmp_path: Path) -> None:
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import rdpcap

    frames = [FRAME, bytes.fromhex("020000000002020000000001") + b"\x08\x00" + bytes(46)]
    path = tmp_path / "s.pcap"
    with PcapWriter(path) as w:
        for i, f in enumerate(frames):
            w.write(f, 100.0 + i)
    packets = rdpcap(str(path))
    assert [bytes(p) for p in packets] == frames
    assert packets[0].haslayer(Ether) and packets[0].haslayer(ARP)
    assert float(packets[1].time) == pytest.approx(101.0)


def test_linux_flags_translate() -> None:
    flags = linux_to_if_flags(0x1043)  # UP|BROADCAST|RUNNING|MULTICAST on Linux
    assert flags == IfFlags.UP | IfFlags.BROADCAST | IfFlags.RUNNING | IfFlags.MULTICAST
    assert linux_to_if_flags(0x10000) == IfFlags(0)  # LOWER_UP has no BSD flag
