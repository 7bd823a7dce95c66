import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debugnet.errors import Exists, InvalidArgument, NetworkDown, NoDevice, NoSpace
from debugnet.ifnet import (
    IF_INDEX_MAX,
    NULL_OPS,
    IfEvent,
    IfFlags,
    Ifnet,
    IfOps,
    IfTable,
)
from debugnet.ifnet.ioctl import ifioctl, set_mtu
from tests.test_ifnet_support import make_ether, recorder, up


def test_indexes_are_allocated_in_order_from_one() -> None:
    table = IfTable()
    ifps = [table.attach(make_ether(f"em{i}")[0]) for i in range(3)]
    assert [ifp.index for ifp in ifps] == [1, 2, 3]
    assert [ifp.index_gen for ifp in ifps] == [0, 1, 2]
    assert list(table) == ifps
    assert table.byindex(2) is ifps[1]
    assert table.unit("em2") is ifps[2]
    assert table.unit("3") is ifps[2]  # all digits: an index
    assert table.unit("em9") is None


def test_rolling_counter_does_not_reuse_a_freed_index_immediately() -> None:
    table = IfTable()
    a = table.attach(make_ether("em0")[0])
    b = table.attach(make_ether("em1")[0])
    table.detach(a)
    c = table.attach(make_ether("em2")[0])
    assert (b.index, c.index) == (2, 3)  # the counter rolls on from 2, not back to 1


def test_index_wraps_to_one_and_exhausts_with_a_clear_error() -> None:
    table = IfTable()
    ops = IfOps(output=lambda ifp, f: None)
    first = [table.attach(Ifnet(f"x{i}", ops)) for i in range(IF_INDEX_MAX)]
    assert first[-1].index == IF_INDEX_MAX
    with pytest.raises(NoSpace):
        table.attach(Ifnet("y0", ops))
    # Free index 5; the counter at 65535 wraps back to 1 and finds it.
    table.detach(first[4])
    again = table.attach(Ifnet("y1", ops))
    assert again.index == 5
    assert again.index_gen == IF_INDEX_MAX  # generations never repeat


def test_generation_tells_a_reused_index_from_the_old_interface() -> None:
    table = IfTable()
    old = table.attach(make_ether("em0")[0])
    ref = table.ref(old)
    assert table.resolve(ref) is old
    table.detach(old)
    new = table.attach(make_ether("em1")[0], index=old.index)
    assert new.index == old.index
    assert new.index_gen != old.index_gen
    assert table.resolve(ref) is None
    assert table.resolve(table.ref(new)) is new


def test_attach_errors() -> None:
    table = IfTable()
    ifp = table.attach(make_ether("em0")[0])
    with pytest.raises(Exists):
        table.attach(make_ether("em0")[0])
    with pytest.raises(InvalidArgument):
        table.attach(ifp)
    with pytest.raises(Exists):
        table.attach(make_ether("em1")[0], index=1)
    with pytest.raises(InvalidArgument):
        table.attach(make_ether("em1")[0], index=IF_INDEX_MAX + 1)
    with pytest.raises(InvalidArgument):
        Ifnet("a-name-far-too-long", IfOps())


def test_detach_deactivates_purges_and_tells_listeners() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp, drv = make_ether()
    table.attach(ifp)
    up(ifp)
    ifp.add_inet("192.0.2.1", "255.255.255.0")
    ifp.flags |= IfFlags.OACTIVE  # hold frames in the queue
    ifp.transmit(b"\x00" * 60)
    ifp.input(b"\xff" * 60)
    ifp.link_state_change(2)
    table.detach(ifp, now=5.0)
    assert ifp.deactivated and ifp.ops is NULL_OPS
    assert ifp.inet_addrs() == [] and ifp.link_ifa is None
    assert len(ifp.snd) == 0 and ifp.snd.drops == 1
    assert len(ifp.rcv) == 0 and ifp.rcv.drops == 1
    assert len(ifp.link_queue) == 0
    assert not ifp.flags & (IfFlags.UP | IfFlags.RUNNING)
    assert ifp.last_change == 5.0
    assert drv.stops == 1
    assert [n.event for n in seen][-2:] == [IfEvent.DOWN, IfEvent.DETACH]
    assert table.unit("em0") is None and table.byindex(1) is None
    with pytest.raises(NoDevice):
        table.detach(ifp)


def test_detach_while_referenced_leaves_a_dead_interface() -> None:
    table = IfTable()
    ifp, drv = make_ether()
    table.attach(ifp)
    up(ifp)
    held = table.get("em0")
    assert held is ifp and ifp.refcnt == 1
    table.detach(ifp)
    assert table.get("em0") is None
    assert table.get_byindex(1) is None
    # The holder's interface fails cleanly and never reaches the driver.
    with pytest.raises(NoDevice):
        held.transmit(b"\x00" * 60)
    with pytest.raises(NoDevice):
        set_mtu(held, 1400)
    with pytest.raises(NoDevice):
        ifioctl(held, 1, IfFlags.UP)
    assert held.input(b"\x00" * 60) is False
    assert drv.sent == []
    table.put(held)
    assert held.refcnt == 0
    with pytest.raises(InvalidArgument):
        table.put(held)


def test_null_ops_fail_with_enxio_or_drop() -> None:
    ifp = Ifnet("em0", NULL_OPS)
    with pytest.raises(NoDevice):
        NULL_OPS.output(ifp, b"x")
    with pytest.raises(NoDevice):
        NULL_OPS.ioctl(ifp, 1, None)
    with pytest.raises(NoDevice):
        NULL_OPS.init(ifp)
    NULL_OPS.stop(ifp, True)
    NULL_OPS.watchdog(ifp)
    ifp.snd.enqueue(b"x")
    NULL_OPS.start(ifp)
    assert len(ifp.snd) == 0 and ifp.snd.drops == 1


def test_get_put_count_references() -> None:
    table = IfTable()
    ifp = table.attach(make_ether()[0])
    assert table.get_byindex(1) is ifp
    assert table.get("1") is ifp
    assert ifp.refcnt == 2
    table.put(ifp)
    table.put(ifp)
    table.put(None)
    assert ifp.refcnt == 0


def test_transmit_needs_up_and_running() -> None:
    table = IfTable()
    ifp, _drv = make_ether()
    table.attach(ifp)
    with pytest.raises(NetworkDown):
        ifp.transmit(b"\x00" * 60)
    up(ifp)
    ifp.flags |= IfFlags.MONITOR
    with pytest.raises(NetworkDown):
        ifp.transmit(b"\x00" * 60)


def test_slow_timer_runs_watchdog_when_timer_expires() -> None:
    table = IfTable(now=0.0)
    ifp, drv = make_ether()
    table.attach(ifp)
    ifp.timer = 3
    assert table.next_deadline() == 1.0
    assert table.handle_timer(0.5) == 0
    assert table.handle_timer(2.0) == 2
    assert ifp.timer == 1 and drv.watchdogs == 0
    assert table.handle_timer(3.0) == 1
    assert drv.watchdogs == 1 and ifp.timer == 0
    table.handle_timer(10.0)
    assert drv.watchdogs == 1  # a timer at zero is off
    assert table.next_deadline() == 11.0


def test_listeners_hear_attach_and_can_be_removed() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp = table.attach(make_ether()[0])
    assert [(n.event, n.ifp) for n in seen] == [(IfEvent.ATTACH, ifp)]
    table.listeners.remove(seen.append)
    table.detach(ifp)
    assert len(seen) == 1


def test_unit_reads_only_ascii_digits_as_an_index() -> None:
    table = IfTable()
    em0 = table.attach(make_ether()[0])
    assert table.unit("1") is em0
    assert table.unit("\u00b2") is None  # superscript two: int() refuses it
    assert table.unit("\u0661") is None  # Arabic-Indic one: int() says 1


def test_attach_checks_names_by_name_not_as_indexes() -> None:
    table = IfTable()
    em0 = table.attach(make_ether()[0])
    one = table.attach(make_ether("1")[0])  # Linux allows an all-digit name
    assert one.index == 2 and table.byname("1") is one and table.unit("1") is em0
    with pytest.raises(Exists):
        table.attach(make_ether("1")[0])


_OPS = IfOps(output=lambda ifp, f: None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=80))
def test_index_allocation_invariants(script: list[tuple[bool, int]]) -> None:
    table = IfTable()
    live: list[Ifnet] = []
    generations: set[int] = set()
    serial = 0
    for attach, pick in script:
        if attach or not live:
            ifp = table.attach(Ifnet(f"x{serial}", _OPS))
            serial += 1
            assert 1 <= ifp.index <= IF_INDEX_MAX
            assert ifp.index_gen not in generations
            generations.add(ifp.index_gen)
            live.append(ifp)
        else:
            gone = live.pop(pick % len(live))
            ref = table.ref(gone)
            table.detach(gone)
            assert table.resolve(ref) is None
        indexes = [i.index for i in live]
        assert len(set(indexes)) == len(indexes)
        assert list(table) == live
        assert all(table.byindex(i.index) is i for i in live)
