import pytest

from debugnet.errors import InvalidArgument, NoDevice, NotTty, PermissionDenied
from debugnet.ifnet import IfCap, IfEvent, IfFlags, Ifnet, IfTable, IoctlCmd
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
    ifp.set_flags(IfFlags.UP | IfFlags.DEBUG, now=7.5)
    assert ifp.flags & IfFlags.UP and ifp.flags & IfFlags.RUNNING and ifp.flags & IfFlags.DEBUG
    assert drv.inits == 1 and ifp.last_change == 7.5
    assert seen[-1].event == IfEvent.UP
    ifp.set_flags(0, now=9.0)
    assert not ifp.flags & (IfFlags.UP | IfFlags.RUNNING | IfFlags.DEBUG)
    assert drv.stops == 1 and ifp.last_change == 9.0
    assert seen[-1].event == IfEvent.DOWN


def test_set_flags_keeps_the_flags_it_cannot_change() -> None:
    _, ifp, _ = _attached()
    before = ifp.flags
    ifp.set_flags(IfFlags.PROMISC | IfFlags.POINTOPOINT | IfFlags.LINK0, 0.0)
    after = ifp.flags
    assert after & IfFlags.BROADCAST and after & IfFlags.MULTICAST  # kept although not asked
    assert not after & (IfFlags.PROMISC | IfFlags.POINTOPOINT)  # refused although asked
    assert after & IfFlags.LINK0 and after == before | IfFlags.LINK0


def test_driver_refusing_flags_changes_nothing() -> None:
    drv = FakeDriver(fail={IoctlCmd.SIOCSIFFLAGS: InvalidArgument("no")})
    _, ifp, _ = _attached(driver=drv)
    before = ifp.flags
    with pytest.raises(InvalidArgument):
        ifp.set_flags(IfFlags.UP, 0.0)
    assert ifp.flags == before and drv.inits == 0


def test_failing_init_leaves_the_interface_down() -> None:
    drv = FakeDriver(fail_init=InvalidArgument("hardware says no"))
    _, ifp, _ = _attached(driver=drv)
    with pytest.raises(InvalidArgument):
        ifp.set_flags(IfFlags.UP, 0.0)
    assert not ifp.flags & IfFlags.UP


def test_promisc_is_counted_and_reaches_the_driver_only_on_edges() -> None:
    _, ifp, drv = _attached()
    up(ifp)
    drv.ioctls.clear()
    ifp.promisc(True)
    ifp.promisc(True)
    assert ifp.pcount == 2 and ifp.flags & IfFlags.PROMISC
    assert len(drv.ioctls) == 1
    ifp.promisc(False)
    assert ifp.flags & IfFlags.PROMISC and len(drv.ioctls) == 1
    ifp.promisc(False)
    assert not ifp.flags & IfFlags.PROMISC and len(drv.ioctls) == 2
    with pytest.raises(InvalidArgument):
        ifp.promisc(False)


def test_promisc_on_a_down_interface_does_not_call_the_driver() -> None:
    _, ifp, drv = _attached()
    ifp.promisc(True)
    assert ifp.flags & IfFlags.PROMISC and drv.ioctls == []


def test_promisc_with_a_failing_driver_restores_count_and_flag() -> None:
    drv = FakeDriver()
    _, ifp, _ = _attached(driver=drv)
    up(ifp)
    drv.fail[IoctlCmd.SIOCSIFFLAGS] = InvalidArgument("cannot")
    with pytest.raises(InvalidArgument):
        ifp.promisc(True)
    assert ifp.pcount == 0 and not ifp.flags & IfFlags.PROMISC
    del drv.fail[IoctlCmd.SIOCSIFFLAGS]
    ifp.promisc(True)
    drv.fail[IoctlCmd.SIOCSIFFLAGS] = InvalidArgument("cannot")
    with pytest.raises(InvalidArgument):
        ifp.promisc(False)
    assert ifp.pcount == 1 and ifp.flags & IfFlags.PROMISC


def test_mtu_range_driver_veto_and_listeners() -> None:
    table = IfTable()
    seen = recorder(table)
    drv = FakeDriver()
    ifp, _ = make_ether(driver=drv)
    table.attach(ifp)
    ifp.set_mtu(9000)
    assert ifp.mtu == 9000 and seen[-1].event == IfEvent.MTU
    n = len(seen)
    ifp.set_mtu(9000)
    assert len(seen) == n  # no change, no notice
    for bad in (67, 9001):
        with pytest.raises(InvalidArgument):
            ifp.set_mtu(bad)
    drv.fail[IoctlCmd.SIOCSIFMTU] = InvalidArgument("driver range")
    with pytest.raises(InvalidArgument):
        ifp.set_mtu(1400)
    assert ifp.mtu == 9000


def test_metric_stats_and_zeroing() -> None:
    _, ifp, _ = _attached()
    up(ifp)
    ifp.set_metric(5)
    assert ifp.metric == 5
    ifp.transmit(b"\xff" * 60)
    snap = ifp.stats_snapshot()
    ifp.transmit(b"\x00" * 60)
    assert snap.opackets == 1 and snap.omcasts == 1 and snap.obytes == 60
    before = ifp.zero_stats(now=3.0)
    assert before.opackets == 2
    assert ifp.stats.opackets == 0 and ifp.last_change == 3.0


def test_multicast_membership_is_counted() -> None:
    _, ifp, drv = _attached()
    group = bytes.fromhex("01005e000001")
    ifp.add_multi(group)
    ifp.add_multi(group)
    assert [c for c, _ in drv.ioctls] == [IoctlCmd.SIOCADDMULTI]
    ifp.del_multi(group)
    ifp.del_multi(group)
    assert [c for c, _ in drv.ioctls] == [IoctlCmd.SIOCADDMULTI, IoctlCmd.SIOCDELMULTI]
    with pytest.raises(NoDevice):
        ifp.del_multi(group)
    with pytest.raises(InvalidArgument):
        ifp.add_multi(bytes.fromhex("020000000001"))
    drv.fail[IoctlCmd.SIOCADDMULTI] = InvalidArgument("table full")
    with pytest.raises(InvalidArgument):
        ifp.add_multi(group)
    assert ifp.multi == {}


def test_capabilities() -> None:
    caps = IfCap.CSUM_IPV4_RX | IfCap.CSUM_UDPV4_RX
    _, ifp, drv = _attached(capabilities=caps)
    with pytest.raises(InvalidArgument):
        ifp.set_capenable(IfCap.CSUM_TCPV4_TX)
    ifp.set_capenable(IfCap.CSUM_IPV4_RX)
    assert drv.inits == 0  # down: no re-init
    up(ifp)
    ifp.set_capenable(caps)
    assert drv.inits == 2  # up, then re-init for the change
    assert ifp.ioctl(IoctlCmd.SIOCGIFCAP) == (caps, caps)


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
    ifp.ioctl(IoctlCmd.SIOCSIFLLADDR, MAC_B)
    assert ifp.lladdr == MAC_B and drv.ioctls[-1] == (IoctlCmd.SIOCSIFLLADDR, MAC_B)
    assert ifp.link_ifa is not None and ifp.link_ifa.addr.lladdr == MAC_B
    with pytest.raises(InvalidArgument):
        ifp.ioctl(IoctlCmd.SIOCSIFLLADDR, b"xx")
    with pytest.raises(InvalidArgument):
        ifp.ioctl(IoctlCmd.SIOCSIFLLADDR, None)
    with pytest.raises(PermissionDenied):
        ifp.ioctl(IoctlCmd.SIOCSIFLLADDR, MAC_A, privileged=False)
    assert ifp.lladdr == MAC_B


def test_a_detached_interface_is_enxio_before_eperm() -> None:
    # doifioctl looks the interface up before it asks kauth.
    table, ifp, _drv = _attached()
    table.detach(ifp)
    with pytest.raises(NoDevice):
        ifp.ioctl(IoctlCmd.SIOCSIFMTU, 1400, privileged=False)
    with pytest.raises(PermissionDenied):
        ifp.ioctl(IoctlCmd.SIOCINITIFADDR)


def test_ioctl_entry_point_errnos() -> None:
    table, ifp, _drv = _attached()
    assert ifp.ioctl(IoctlCmd.SIOCGIFINDEX) == 1
    ifp.ioctl(IoctlCmd.SIOCSIFMTU, 1400)
    assert ifp.ioctl(IoctlCmd.SIOCGIFMTU) == 1400
    ifp.ioctl(IoctlCmd.SIOCSIFFLAGS, int(IfFlags.UP), now=2.0)
    assert ifp.ioctl(IoctlCmd.SIOCGIFFLAGS) & IfFlags.UP
    assert ifp.ioctl(IoctlCmd.SIOCGIFDATA).opackets == 0
    with pytest.raises(PermissionDenied):
        ifp.ioctl(IoctlCmd.SIOCSIFMTU, 1300, privileged=False)
    assert ifp.ioctl(IoctlCmd.SIOCGIFMTU, privileged=False) == 1400
    with pytest.raises(PermissionDenied):
        ifp.ioctl(IoctlCmd.SIOCINITIFADDR)
    with pytest.raises(NotTty):
        ifp.ioctl(IoctlCmd.DRIVER_PRIVATE + 5)
    with pytest.raises(InvalidArgument):
        ifp.ioctl(IoctlCmd.SIOCSIFMTU, "big")
    table.detach(ifp)
    with pytest.raises(NoDevice):
        ifp.ioctl(IoctlCmd.SIOCGIFFLAGS)
