import io

import pytest

from debugnet.devices import loopback
from debugnet.devices.memwire import MemWire, wire_pair
from debugnet.devices.pcap import PcapWriter, capture
from debugnet.errors import NoBuffers
from debugnet.ifnet import (
    DebugnetEvent,
    IfFlags,
    Ifnet,
    IfTable,
    LinkState,
    PoolBuffer,
    PoolSize,
    debugnet_event,
    debugnet_poll,
    debugnet_transmit,
)
from debugnet.ifnet.ioctl import add_multi, promisc, set_flags
from debugnet.ifnet.rxinfo import RxInfo
from debugnet.sim import LinkConfig, Simulator

MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6


def frame(dst: bytes, src: bytes, n: int, size: int = 60) -> bytes:
    body = n.to_bytes(4, "big")
    return dst + src + b"\x88\xb5" + body + bytes(size - 18)


def test_frames_cross_the_wire_in_virtual_time() -> None:
    sim = Simulator()
    table = IfTable()
    a, b, _ = wire_pair(sim, table, LinkConfig(delay=0.010, rate_bps=1e6))
    table.drain_link_states()
    assert a.link_state == b.link_state == LinkState.UP
    a.transmit(frame(MAC2, MAC1, 1))
    assert b.dequeue_input() is None
    sim.run(until=0.010)
    assert b.dequeue_input() is None  # 60 bytes at 1 Mbit/s take 480 us more
    sim.run(until=0.011)
    assert b.dequeue_input() == frame(MAC2, MAC1, 1)
    assert a.stats.opackets == 1 and b.stats.ipackets == 1


def test_station_filter_and_promiscuous_mode() -> None:
    sim = Simulator()
    table = IfTable()
    a, b, _ = wire_pair(sim, table)
    other = bytes.fromhex("020000000099")
    a.transmit(frame(other, MAC1, 1))
    a.transmit(frame(BCAST, MAC1, 2))
    sim.run()
    assert b.dequeue_input() == frame(BCAST, MAC1, 2)
    assert b.dequeue_input() is None
    promisc(b, True)
    a.transmit(frame(other, MAC1, 3))
    sim.run()
    assert b.dequeue_input() == frame(other, MAC1, 3)
    group = bytes.fromhex("01005e000001")
    promisc(b, False)
    a.transmit(frame(group, MAC1, 4))
    sim.run()  # not joined yet: filtered out
    add_multi(b, group)
    a.transmit(frame(group, MAC1, 5))
    sim.run()
    assert b.dequeue_input() == frame(group, MAC1, 5)
    assert b.dequeue_input() is None


def test_a_hub_of_three_delivers_to_every_other_port() -> None:
    sim = Simulator()
    table = IfTable()
    wire = MemWire(sim)
    ports = [wire.attach(table, f"hub{i}", bytes([2, 0, 0, 0, 0, i])) for i in range(3)]
    ports[0].transmit(frame(BCAST, ports[0].lladdr, 7))
    sim.run()
    assert ports[0].dequeue_input() is None
    assert ports[1].dequeue_input() == ports[2].dequeue_input() == frame(BCAST, ports[0].lladdr, 7)


def test_impairments_apply_with_a_seed() -> None:
    def run(seed: int) -> list[int]:
        sim = Simulator()
        table = IfTable()
        cfg = LinkConfig(loss=0.3, duplicate=0.1, reorder=0.2, delay=0.001)
        a, b, _ = wire_pair(sim, table, cfg, seed=seed)
        for n in range(200):
            a.transmit(frame(MAC2, MAC1, n))
        sim.run()
        got = []
        while (f := b.dequeue_input()) is not None:
            got.append(int.from_bytes(f[14:18], "big"))
        return got

    first = run(1)
    assert first == run(1)  # deterministic
    assert first != run(2)
    assert 100 < len(first) < 200  # losses happened
    assert first != sorted(first)  # reordering happened


def test_carrier_loss_stops_frames_and_reports_link_down() -> None:
    sim = Simulator()
    table = IfTable()
    a, b, wire = wire_pair(sim, table)
    table.drain_link_states()
    wire.set_carrier(b, False)
    table.drain_link_states()
    assert b.link_state == LinkState.DOWN
    a.transmit(frame(MAC2, MAC1, 1))
    sim.run()
    assert b.dequeue_input() is None
    wire.set_carrier(b, True)
    table.drain_link_states()
    a.transmit(frame(MAC2, MAC1, 2))
    sim.run()
    assert b.dequeue_input() == frame(MAC2, MAC1, 2)


def test_debugnet_start_diverts_to_the_ring_until_polled() -> None:
    sim = Simulator()
    table = IfTable()
    a, b, _ = wire_pair(sim, table)
    table.drain_link_states()  # link UP sizes the pool
    assert table.debugnet.hwm == PoolSize(256 * 5, 256, 2048)
    debugnet_event(b, DebugnetEvent.START)
    for n in range(5):
        debugnet_transmit(a, frame(MAC2, MAC1, n))
    sim.run()
    assert b.dequeue_input() is None
    assert debugnet_poll(b, 3) == 3
    assert debugnet_poll(b, 10) == 2
    got = [b.dequeue_input() for _ in range(5)]
    assert got == [frame(MAC2, MAC1, n) for n in range(5)]
    debugnet_event(b, DebugnetEvent.END)
    a.transmit(frame(MAC2, MAC1, 9))
    sim.run()
    assert b.dequeue_input() == frame(MAC2, MAC1, 9)


def test_down_interface_receives_nothing() -> None:
    sim = Simulator()
    table = IfTable()
    a, b, _ = wire_pair(sim, table)
    set_flags(b, b.flags & ~IfFlags.UP, sim.now)
    a.transmit(frame(MAC2, MAC1, 1))
    sim.run()
    assert b.stats.ipackets == 0


def test_loopback_and_its_cloner() -> None:
    table = IfTable()
    table.cloners.attach(loopback.cloner())
    lo = table.cloners.create("lo0")
    assert lo.flags & IfFlags.LOOPBACK and lo.is_up_and_running
    f = bytes(14) + b"hello"
    lo.transmit(f)
    assert lo.dequeue_input() == f
    assert lo.stats.opackets == lo.stats.ipackets == 1
    table.cloners.destroy("lo0")
    assert table.unit("lo0") is None


def test_pcap_tap_in_virtual_time() -> None:
    sim = Simulator()
    table = IfTable()
    a, b, _ = wire_pair(sim, table, LinkConfig(delay=0.5))
    buf = io.BytesIO()
    writer = PcapWriter(buf)
    capture(b, writer, lambda: sim.now)
    a.transmit(frame(MAC2, MAC1, 1))
    sim.run()
    b.transmit(frame(MAC1, MAC2, 2))
    assert writer.frames == 2
    data = buf.getvalue()
    # second record header: ts 0.5 s (received at 0.5, reply sent at 0.5)
    assert data[24:32] == (0).to_bytes(4, "little") + (500000).to_bytes(4, "little")


def test_the_stack_takes_received_frames_from_the_debugnet_pool() -> None:
    """poll → fill a pool buffer → consume → give back, ENOBUFS once the pool is empty."""
    sim = Simulator()
    table = IfTable()
    wire = MemWire(sim)
    a = wire.attach(table, "mw0", MAC1, ring=4)
    b = wire.attach(table, "mw1", MAC2, ring=4)
    table.drain_link_states()  # link UP: the pool is sized from the ring, 4 clusters
    pool = table.debugnet.pool
    assert (pool.free_clusters, pool.free_headers, pool.size.clsize) == (4, 20, 2048)
    held: list[PoolBuffer] = []
    refused: list[bytes] = []

    def stack_input(ifp: Ifnet, data: bytes, rx: RxInfo) -> None:
        try:
            held.append(pool.fill(data))
        except NoBuffers:
            refused.append(data)

    b.input_hook = stack_input
    debugnet_event(b, DebugnetEvent.START)
    for n in range(4):
        debugnet_transmit(a, frame(MAC2, MAC1, n))
    sim.run()
    assert debugnet_poll(b, 2) == 2 and pool.free_clusters == 2
    first = held.pop(0)
    assert bytes(first.view()) == frame(MAC2, MAC1, 0)
    pool.give_back(first)
    assert debugnet_poll(b, 8) == 2 and pool.free_clusters == 1
    for n in range(4, 6):
        debugnet_transmit(a, frame(MAC2, MAC1, n))
    sim.run()
    assert debugnet_poll(b, 8) == 2
    assert pool.free_clusters == 0 and refused == [frame(MAC2, MAC1, 5)]
    with pytest.raises(NoBuffers):
        pool.take()
    assert [bytes(buf.view()) for buf in held] == [frame(MAC2, MAC1, n) for n in range(1, 5)]
    for buf in held:
        pool.give_back(buf)
    assert (pool.free_clusters, pool.free_headers) == (4, 20)
    debugnet_event(b, DebugnetEvent.END)
