import pytest

from debugnet.errors import InvalidArgument, NoDevice, NotTty, PermissionDenied
from debugnet.ifnet import (
    IfCap,
    IfEvent,
    IfFlags,
    Ifnet,
    IfNotice,
    IfOps,
    IfStats,
    IfTable,
    IoctlCmd,
    LinkAddress,
    LinkState,
)
from debugnet.ifnet.ioctl import (
    add_multi,
    del_multi,
    ifioctl,
    ifioctl_common,
    promisc,
    set_capenable,
    set_flags,
    set_metric,
    set_mtu,
    stats_snapshot,
    zero_stats,
)
from tests.test_ifnet_support import MAC_A, MAC_B, FakeDriver, make_ether, recorder, up


def _attached(**kw: object) -> tuple[IfTable, Ifnet, FakeDriver]:
    table = IfTable()
    ifp, drv = make_ether(**kw)  # type: ignore[arg-type]
    table.attach(ifp)
    return table, ifp, drv


def test_set_flags_up_inits_driver_and_records_time() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp, drv = make_ether()
    table.attach(ifp)
    set_flags(ifp, IfFlags.UP | IfFlags.DEBUG, now=7.5)
    assert ifp.flags & IfFlags.UP and ifp.flags & IfFlags.RUNNING and ifp.flags & IfFlags.DEBUG
    assert drv.inits == 1 and ifp.last_change == 7.5
    assert seen[-1].event == IfEvent.UP
    set_flags(ifp, 0, now=9.0)
    assert not ifp.flags & (IfFlags.UP | IfFlags.RUNNING | IfFlags.DEBUG)
    assert drv.stops == 1 and ifp.last_change == 9.0
    assert seen[-1].event == IfEvent.DOWN


def test_set_flags_keeps_the_flags_it_cannot_change() -> None:
    _, ifp, _ = _attached()
    before = ifp.flags
    set_flags(ifp, IfFlags.PROMISC | IfFlags.POINTOPOINT | IfFlags.LINK0, 0.0)
    after = ifp.flags
    assert after & IfFlags.BROADCAST and after & IfFlags.MULTICAST  # kept although not asked
    assert not after & (IfFlags.PROMISC | IfFlags.POINTOPOINT)  # refused although asked
    assert after & IfFlags.LINK0 and after == before | IfFlags.LINK0


def test_driver_refusing_flags_changes_nothing() -> None:
    drv = FakeDriver(fail={IoctlCmd.SIOCSIFFLAGS: InvalidArgument("no")})
    _, ifp, _ = _attached(driver=drv)
    before = ifp.flags
    with pytest.raises(InvalidArgument):
        set_flags(ifp, IfFlags.UP, 0.0)
    assert ifp.flags == before and drv.inits == 0


def test_failing_init_leaves_the_interface_down() -> None:
    drv = FakeDriver(fail_init=InvalidArgument("hardware says no"))
    _, ifp, _ = _attached(driver=drv)
    with pytest.raises(InvalidArgument):
        set_flags(ifp, IfFlags.UP, 0.0)
    assert not ifp.flags & IfFlags.UP


def test_promisc_is_counted_and_reaches_the_driver_only_on_edges() -> None:
    _, ifp, drv = _attached()
    up(ifp)
    drv.ioctls.clear()
    promisc(ifp, True)
    promisc(ifp, True)
    assert ifp.pcount == 2 and ifp.flags & IfFlags.PROMISC
    assert len(drv.ioctls) == 1
    promisc(ifp, False)
    assert ifp.flags & IfFlags.PROMISC and len(drv.ioctls) == 1
    promisc(ifp, False)
    assert not ifp.flags & IfFlags.PROMISC and len(drv.ioctls) == 2
    with pytest.raises(InvalidArgument):
        promisc(ifp, False)


def test_promisc_on_a_down_interface_does_not_call_the_driver() -> None:
    _, ifp, drv = _attached()
    promisc(ifp, True)
    assert ifp.flags & IfFlags.PROMISC and drv.ioctls == []


def test_promisc_with_a_failing_driver_restores_count_and_flag() -> None:
    drv = FakeDriver()
    _, ifp, _ = _attached(driver=drv)
    up(ifp)
    drv.fail[IoctlCmd.SIOCSIFFLAGS] = InvalidArgument("cannot")
    with pytest.raises(InvalidArgument):
        promisc(ifp, True)
    assert ifp.pcount == 0 and not ifp.flags & IfFlags.PROMISC
    del drv.fail[IoctlCmd.SIOCSIFFLAGS]
    promisc(ifp, True)
    drv.fail[IoctlCmd.SIOCSIFFLAGS] = InvalidArgument("cannot")
    with pytest.raises(InvalidArgument):
        promisc(ifp, False)
    assert ifp.pcount == 1 and ifp.flags & IfFlags.PROMISC


def test_mtu_range_driver_veto_and_listeners() -> None:
    table = IfTable()
    seen = recorder(table)
    drv = FakeDriver()
    ifp, _ = make_ether(driver=drv)
    table.attach(ifp)
    set_mtu(ifp, 9000)
    assert ifp.mtu == 9000 and seen[-1].event == IfEvent.MTU
    n = len(seen)
    set_mtu(ifp, 9000)
    assert len(seen) == n  # no change, no notice
    for bad in (67, 9001):
        with pytest.raises(InvalidArgument):
            set_mtu(ifp, bad)
    drv.fail[IoctlCmd.SIOCSIFMTU] = InvalidArgument("driver range")
    with pytest.raises(InvalidArgument):
        set_mtu(ifp, 1400)
    assert ifp.mtu == 9000


def test_metric_stats_and_zeroing() -> None:
    _, ifp, _ = _attached()
    up(ifp)
    set_metric(ifp, 5)
    assert ifp.metric == 5
    ifp.transmit(b"\xff" * 60)
    snap = stats_snapshot(ifp)
    ifp.transmit(b"\x00" * 60)
    assert snap.opackets == 1 and snap.omcasts == 1 and snap.obytes == 60
    before = zero_stats(ifp, now=3.0)
    assert before.opackets == 2
    assert ifp.stats.opackets == 0 and ifp.last_change == 3.0


def test_multicast_membership_is_counted() -> None:
    _, ifp, drv = _attached()
    group = bytes.fromhex("01005e000001")
    add_multi(ifp, group)
    add_multi(ifp, group)
    assert [c for c, _ in drv.ioctls] == [IoctlCmd.SIOCADDMULTI]
    del_multi(ifp, group)
    del_multi(ifp, group)
    assert [c for c, _ in drv.ioctls] == [IoctlCmd.SIOCADDMULTI, IoctlCmd.SIOCDELMULTI]
    with pytest.raises(NoDevice):
        del_multi(ifp, group)
    with pytest.raises(InvalidArgument):
        add_multi(ifp, bytes.fromhex("020000000001"))
    drv.fail[IoctlCmd.SIOCADDMULTI] = InvalidArgument("table full")
    with pytest.raises(InvalidArgument):
        add_multi(ifp, group)
    assert ifp.multi == {}


def test_capabilities() -> None:
    caps = IfCap.CSUM_IPV4_RX | IfCap.CSUM_UDPV4_RX
    _, ifp, drv = _attached(capabilities=caps)
    with pytest.raises(InvalidArgument):
        set_capenable(ifp, IfCap.CSUM_TCPV4_TX)
    set_capenable(ifp, IfCap.CSUM_IPV4_RX)
    assert drv.inits == 0  # down: no re-init
    up(ifp)
    set_capenable(ifp, caps)
    assert drv.inits == 2  # up, then re-init for the change
    assert ifioctl(ifp, IoctlCmd.SIOCGIFCAP) == (caps, caps)


def test_set_flags_up_restarts_an_interface_that_is_up_but_stopped() -> None:
    _table, ifp, drv = _attached()
    up(ifp)
    ifp.flags &= ~IfFlags.RUNNING  # a driver reset stopped it
    up(ifp, 1.0)
    assert drv.inits == 2 and ifp.is_up_and_running
    up(ifp, 2.0)  # up and running: nothing to do
    assert drv.inits == 2


def test_ioctl_sets_the_link_layer_address() -> None:
    _table, ifp, drv = _attached()
    ifioctl(ifp, IoctlCmd.SIOCSIFLLADDR, MAC_B)
    assert ifp.lladdr == MAC_B and drv.ioctls[-1] == (IoctlCmd.SIOCSIFLLADDR, MAC_B)
    assert ifp.link_ifa is not None and ifp.link_ifa.addr.lladdr == MAC_B
    with pytest.raises(InvalidArgument):
        ifioctl(ifp, IoctlCmd.SIOCSIFLLADDR, b"xx")
    with pytest.raises(InvalidArgument):
        ifioctl(ifp, IoctlCmd.SIOCSIFLLADDR, None)
    with pytest.raises(PermissionDenied):
        ifioctl(ifp, IoctlCmd.SIOCSIFLLADDR, MAC_A, privileged=False)
    assert ifp.lladdr == MAC_B


def test_a_detached_interface_is_enxio_before_eperm() -> None:
    # doifioctl looks the interface up before it asks kauth.
    table, ifp, _drv = _attached()
    table.detach(ifp)
    with pytest.raises(NoDevice):
        ifioctl(ifp, IoctlCmd.SIOCSIFMTU, 1400, privileged=False)
    with pytest.raises(PermissionDenied):
        ifioctl(ifp, IoctlCmd.SIOCINITIFADDR)


def test_ioctl_entry_point_errnos() -> None:
    table, ifp, _drv = _attached()
    assert ifioctl(ifp, IoctlCmd.SIOCGIFINDEX) == 1
    ifioctl(ifp, IoctlCmd.SIOCSIFMTU, 1400)
    assert ifioctl(ifp, IoctlCmd.SIOCGIFMTU) == 1400
    ifioctl(ifp, IoctlCmd.SIOCSIFFLAGS, int(IfFlags.UP), now=2.0)
    assert ifioctl(ifp, IoctlCmd.SIOCGIFFLAGS) & IfFlags.UP
    assert ifioctl(ifp, IoctlCmd.SIOCGIFDATA).opackets == 0
    with pytest.raises(PermissionDenied):
        ifioctl(ifp, IoctlCmd.SIOCSIFMTU, 1300, privileged=False)
    assert ifioctl(ifp, IoctlCmd.SIOCGIFMTU, privileged=False) == 1400
    with pytest.raises(PermissionDenied):
        ifioctl(ifp, IoctlCmd.SIOCINITIFADDR)
    with pytest.raises(NotTty):
        ifioctl(ifp, IoctlCmd.DRIVER_PRIVATE + 5)
    with pytest.raises(InvalidArgument):
        ifioctl(ifp, IoctlCmd.SIOCSIFMTU, "big")
    table.detach(ifp)
    with pytest.raises(NoDevice):
        ifioctl(ifp, IoctlCmd.SIOCGIFFLAGS)


# -- ifioctl_common and the attach/detach hooks ----------------------------------


def test_ifioctl_common_answers_reads_without_the_driver() -> None:
    _table, ifp, drv = _attached()
    drv.ioctls.clear()
    assert ifioctl_common(ifp, IoctlCmd.SIOCGIFMTU) == 1500
    assert ifioctl_common(ifp, IoctlCmd.SIOCGIFINDEX) == ifp.index
    assert ifioctl_common(ifp, IoctlCmd.SIOCGIFFLAGS) == ifp.flags
    assert drv.ioctls == []


def test_ifioctl_common_applies_changes_through_the_driver() -> None:
    _table, ifp, drv = _attached()
    drv.ioctls.clear()
    assert ifioctl_common(ifp, IoctlCmd.SIOCSIFMETRIC, 7) is None
    assert ifp.metric == 7 and drv.ioctls == [(IoctlCmd.SIOCSIFMETRIC, 7)]
    ifp.stats.ipackets = 4
    before = ifioctl_common(ifp, IoctlCmd.SIOCZIFDATA, now=6.0)
    assert isinstance(before, IfStats) and before.ipackets == 4
    assert ifp.stats.ipackets == 0 and ifp.last_change == 6.0


def test_ifioctl_common_hands_unknown_requests_to_the_driver() -> None:
    seen: list[int] = []

    def private(ifp: Ifnet, cmd: int, arg: object) -> None:
        seen.append(cmd)

    table = IfTable()
    ifp = table.attach(Ifnet("xx0", IfOps(output=lambda ifp, frame: None, ioctl=private)))
    assert ifioctl_common(ifp, IoctlCmd.DRIVER_PRIVATE + 1, b"x") is None
    assert seen == [IoctlCmd.DRIVER_PRIVATE + 1]
    _table, other, _drv = _attached(name="em1")
    with pytest.raises(NotTty):  # the recording driver knows no private request
        ifioctl_common(other, IoctlCmd.DRIVER_PRIVATE + 1)


def test_ifioctl_common_checks_the_argument_type() -> None:
    _table, ifp, _drv = _attached()
    with pytest.raises(InvalidArgument):
        ifioctl_common(ifp, IoctlCmd.SIOCSIFMTU, "1400")
    with pytest.raises(InvalidArgument):
        ifioctl_common(ifp, IoctlCmd.SIOCADDMULTI, 1)
    assert ifp.mtu == 1500


def test_attached_hook_gives_index_link_address_and_listeners() -> None:
    ifp, _drv = make_ether()
    heard: list[IfNotice] = []
    ifp.notify(IfEvent.UP)  # nobody listens before attach
    ifp.attached(5, 9, heard.append)
    assert (ifp.index, ifp.index_gen) == (5, 9)
    assert ifp.link_ifa is not None and ifp.link_ifa.addr == LinkAddress(5, MAC_A)
    set_mtu(ifp, 1400)
    assert [(n.event, n.ifp) for n in heard] == [(IfEvent.MTU, ifp)]


def test_detached_hook_says_detach_last_and_then_nothing() -> None:
    ifp, _drv = make_ether()
    heard: list[IfEvent] = []
    ifp.attached(1, 0, lambda notice: heard.append(notice.event))
    ifp.timer = 3
    ifp.link_state_change(LinkState.UP)
    ifp.detached()
    assert heard == [IfEvent.DETACH]
    assert ifp.link_ifa is None and ifp.timer == 0 and ifp.link_queue.pop() is None
    ifp.notify(IfEvent.UP)
    assert heard == [IfEvent.DETACH]


def test_table_detach_uses_the_hook_after_the_interface_is_down() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp, _drv = make_ether()
    table.attach(ifp)
    up(ifp)
    table.detach(ifp, now=4.0)
    assert [n.event for n in seen] == [IfEvent.ATTACH, IfEvent.UP, IfEvent.DOWN, IfEvent.DETACH]
    assert ifp.link_ifa is None and ifp.last_change == 4.0
