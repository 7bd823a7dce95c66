import logging

import pytest

from debugnet.errors import InvalidArgument, NoBuffers, NoDevice, NotSupportedByDevice
from debugnet.ifnet import (
    BufferPool,
    DebugnetEvent,
    DebugnetMethods,
    Ifnet,
    IfOps,
    IfTable,
    LinkState,
    PoolSize,
    debugnet_event,
    debugnet_poll,
    debugnet_transmit,
    supports_debugnet,
)
from debugnet.ifnet.ioctl import set_mtu


class Nic:
    """A driver reporting (rings, clusters per ring, cluster size) that tests can change."""

    def __init__(self, figures: tuple[int, int, int]) -> None:
        self.figures = figures
        self.events: list[DebugnetEvent] = []
        self.sent: list[bytes] = []
        self.inbox: list[bytes] = []

    def poll(self, ifp: Ifnet, count: int) -> int:
        n = 0
        while self.inbox and n < count:
            ifp.input(self.inbox.pop(0))
            n += 1
        return n

    def ops(self) -> IfOps:
        return IfOps(
            output=lambda ifp, f: None,
            debugnet=DebugnetMethods(
                init=lambda ifp: self.figures,
                event=lambda ifp, ev: self.events.append(ev),
                transmit=lambda ifp, f: self.sent.append(f),
                poll=self.poll,
            ),
        )


def _attach(table: IfTable, name: str, figures: tuple[int, int, int]) -> tuple[Ifnet, Nic]:
    nic = Nic(figures)
    ifp = table.attach(Ifnet(name, nic.ops(), max_mtu=9000))
    return ifp, nic


def _link_up(table: IfTable, ifp: Ifnet) -> None:
    ifp.link_state_change(LinkState.UP)
    table.drain_link_states()


def test_pool_is_sized_on_link_up_as_protocol_5() -> None:
    table = IfTable()
    ifp, _ = _attach(table, "vtnet0", (2, 128, 2048))
    assert table.debugnet.hwm == PoolSize()
    _link_up(table, ifp)
    # nmbuf = ncl * (4 + nrxr), clusters = ncl * nrxr
    assert table.debugnet.hwm == PoolSize(128 * 6, 256, 2048)
    pool = table.debugnet.pool
    assert pool.free_clusters == 256 and pool.free_headers == 768


def test_high_water_mark_grows_per_figure_only() -> None:
    table = IfTable()
    a, _ = _attach(table, "em0", (2, 128, 2048))
    b, nic_b = _attach(table, "em1", (1, 64, 4096))
    _link_up(table, a)
    _link_up(table, b)
    assert table.debugnet.hwm == PoolSize(768, 256, 4096)
    assert table.debugnet.resizes == 2
    # Nothing grows: no resize.
    nic_b.figures = (1, 16, 2048)
    set_mtu(b, 1400)
    assert table.debugnet.resizes == 2
    # One figure grows on an MTU change: resize.
    nic_b.figures = (1, 64, 9216)
    set_mtu(b, 9000)
    assert table.debugnet.resizes == 3
    assert table.debugnet.hwm == PoolSize(768, 256, 9216)


def test_a_driver_reporting_zeros_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    table = IfTable()
    ifp, _ = _attach(table, "bad0", (1, 0, 2048))
    with caplog.at_level(logging.WARNING):
        _link_up(table, ifp)
    assert table.debugnet.hwm == PoolSize() and table.debugnet.ignored == 1
    assert "bad debugnet init result" in caplog.text
    assert table.debugnet.update(ifp) is False


def test_link_down_and_plain_interfaces_do_not_size() -> None:
    table = IfTable()
    plain = table.attach(Ifnet("lo0", IfOps(output=lambda i, f: None)))
    assert not supports_debugnet(plain)
    _link_up(table, plain)
    ifp, _ = _attach(table, "em0", (1, 8, 2048))
    ifp.link_state_change(LinkState.DOWN)
    table.drain_link_states()
    assert table.debugnet.resizes == 0


def test_pool_is_bounded() -> None:
    pool = BufferPool()
    pool.reinit(PoolSize(nmbuf=3, ncl=2, clsize=64))
    a = pool.fill(b"x" * 60)
    assert bytes(a.view()) == b"x" * 60
    b = pool.take()
    with pytest.raises(NoBuffers):
        pool.take()
    pool.give_back(a)
    c = pool.take()
    assert c.data is a.data
    with pytest.raises(InvalidArgument):
        pool.fill(b"y" * 65)
    # Buffers of an old pool are not mixed into a new one.
    pool.reinit(PoolSize(nmbuf=1, ncl=1, clsize=64))
    pool.give_back(b)
    assert pool.free_clusters == 1
    pool.take()
    with pytest.raises(NoBuffers):
        pool.take()


def test_headers_bound_the_pool_too() -> None:
    pool = BufferPool()
    pool.reinit(PoolSize(nmbuf=1, ncl=4, clsize=64))
    pool.take()
    with pytest.raises(NoBuffers):
        pool.take()


def test_hooks_reach_the_driver_and_fail_cleanly() -> None:
    table = IfTable()
    ifp, nic = _attach(table, "em0", (1, 8, 2048))
    debugnet_event(ifp, DebugnetEvent.START)
    debugnet_transmit(ifp, b"f" * 60)
    nic.inbox += [b"a" * 60, b"b" * 60, b"c" * 60]
    assert debugnet_poll(ifp, 2) == 2
    assert ifp.dequeue_input() == b"a" * 60
    assert nic.events == [DebugnetEvent.START] and nic.sent == [b"f" * 60]
    assert ifp.stats.opackets == 1
    plain = table.attach(Ifnet("lo0", IfOps(output=lambda i, f: None)))
    with pytest.raises(NotSupportedByDevice):
        debugnet_poll(plain, 1)
    table.detach(ifp)
    with pytest.raises(NoDevice):
        debugnet_transmit(ifp, b"f")
