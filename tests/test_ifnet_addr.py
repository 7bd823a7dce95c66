from ipaddress import IPv4Address as A

import pytest

from debugnet.errors import DebugnetError, Exists, InvalidArgument, NoDevice
from debugnet.ifnet import AddrFamily, IfFlags, IfTable, LinkAddress
from debugnet.ifnet.addr import refines
from debugnet.ifnet.ioctl import set_flags
from debugnet.wire.ethernet import mac_from_str, mac_to_str
from tests.test_ifnet_support import MAC_A, MAC_B, make_ether


def _table() -> IfTable:
    """em0: 192.0.2.1/24 and 198.51.100.1/16; em1: 192.0.2.129/25; ppp0: 203.0.113.1 -> .2"""
    table = IfTable()
    em0 = table.attach(make_ether("em0", mac=MAC_A)[0])
    em1 = table.attach(make_ether("em1", mac=MAC_B)[0])
    ppp, _ = make_ether("ppp0", mac=b"")
    ppp.flags = IfFlags.POINTOPOINT | IfFlags.MULTICAST
    table.attach(ppp)
    em0.add_inet("192.0.2.1", "255.255.255.0")
    em0.add_inet("198.51.100.1", "255.255.0.0")
    em1.add_inet("192.0.2.129", "255.255.255.128")
    ppp.add_inet("203.0.113.1", "255.255.255.255", dest="203.0.113.2")
    return table


def test_broadcast_is_derived_and_addresses_listed_link_first() -> None:
    table = _table()
    em0 = table.unit("em0")
    assert em0 is not None
    assert [str(a.addr) for a in em0.addrs] == ["02:00:00:00:00:01", "192.0.2.1", "198.51.100.1"]
    assert em0.addrs[0].family == AddrFamily.LINK
    assert em0.inet_addrs()[0].broadaddr == A("192.0.2.255")
    ppp = table.unit("ppp0")
    assert ppp is not None and ppp.inet_addrs()[0].broadaddr is None


def test_ifa_ifwithaddr_exact_broadcast_and_link() -> None:
    table = _table()
    assert str(table.ifa_ifwithaddr(A("192.0.2.129")).ifp.name) == "em1"  # type: ignore[union-attr]
    hit = table.ifa_ifwithaddr(A("192.0.2.255"))
    assert hit is not None and hit.ifp.name == "em0" and hit.addr == A("192.0.2.1")
    assert table.ifa_ifwithaddr(A("192.0.2.7")) is None
    link = table.ifa_ifwithaddr(LinkAddress(0, MAC_B))
    assert link is not None and link.ifp.name == "em1"


def test_ifa_ifwithnet_picks_the_most_specific_network() -> None:
    table = _table()
    hit = table.ifa_ifwithnet(A("192.0.2.200"))  # in both /24 (em0) and /25 (em1)
    assert hit is not None and hit.ifp.name == "em1"
    hit = table.ifa_ifwithnet(A("192.0.2.10"))  # only in em0's /24
    assert hit is not None and hit.ifp.name == "em0"
    hit = table.ifa_ifwithnet(A("198.51.7.7"))
    assert hit is not None and hit.addr == A("198.51.100.1")
    assert table.ifa_ifwithnet(A("10.0.0.1")) is None
    assert table.ifa_ifwithnet(LinkAddress(2, b"")) is table.unit("em1").link_ifa  # type: ignore[union-attr]
    assert table.ifa_ifwithnet(LinkAddress(9, b"")) is None


def test_ifa_ifwithnet_order_does_not_matter() -> None:
    table = IfTable()
    wide = table.attach(make_ether("em0")[0])
    narrow = table.attach(make_ether("em1")[0])
    narrow.add_inet("192.0.2.129", "255.255.255.128")
    wide.add_inet("192.0.2.1", "255.255.255.0")
    hit = table.ifa_ifwithnet(A("192.0.2.130"))
    assert hit is not None and hit.ifp is narrow


def test_ifa_ifwithdstaddr_and_ladder() -> None:
    table = _table()
    hit = table.ifa_ifwithdstaddr(A("203.0.113.2"))
    assert hit is not None and hit.ifp.name == "ppp0"
    assert table.ifa_ifwithdstaddr(A("192.0.2.1")) is None
    assert table.ifa_ifwithladdr(A("203.0.113.2")).ifp.name == "ppp0"  # type: ignore[union-attr]
    assert table.ifa_ifwithladdr(A("192.0.2.1")).ifp.name == "em0"  # type: ignore[union-attr]
    assert table.ifa_ifwithladdr(A("192.0.2.140")).ifp.name == "em1"  # type: ignore[union-attr]


def test_ifa_ifwithaf_and_skipping_detached() -> None:
    table = _table()
    hit = table.ifa_ifwithaf(AddrFamily.INET)
    assert hit is not None and hit.addr == A("192.0.2.1")
    em0 = table.unit("em0")
    assert em0 is not None
    table.detach(em0)
    hit = table.ifa_ifwithaf(AddrFamily.INET)
    assert hit is not None and hit.ifp.name == "em1"
    assert table.ifa_ifwithaddr(A("192.0.2.1")) is None


def test_ifaof_ifpforaddr() -> None:
    table = _table()
    em0 = table.unit("em0")
    assert em0 is not None
    assert em0 is not None
    assert em0.addrs and table.ifa_ifwithaf(AddrFamily.LINK) is em0.link_ifa
    from debugnet.ifnet.addr import ifaof_ifpforaddr

    assert ifaof_ifpforaddr(A("198.51.3.4"), em0).addr == A("198.51.100.1")  # type: ignore[union-attr]
    assert ifaof_ifpforaddr(A("192.0.2.99"), em0).addr == A("192.0.2.1")  # type: ignore[union-attr]
    # No network matches: the last address of the family.
    assert ifaof_ifpforaddr(A("10.1.1.1"), em0).addr == A("198.51.100.1")  # type: ignore[union-attr]
    ppp = table.unit("ppp0")
    assert ppp is not None
    assert ifaof_ifpforaddr(A("203.0.113.2"), ppp).addr == A("203.0.113.1")  # type: ignore[union-attr]
    table.detach(em0)
    assert ifaof_ifpforaddr(A("192.0.2.99"), em0) is None


def test_add_remove_errors() -> None:
    table = _table()
    em0 = table.unit("em0")
    assert em0 is not None
    with pytest.raises(Exists):
        em0.add_inet("192.0.2.1", "255.255.255.0")
    with pytest.raises(InvalidArgument):
        em0.add_inet("192.0.2.9", "255.255.255.0", dest="192.0.2.10")
    assert em0.remove_inet("198.51.100.1").addr == A("198.51.100.1")
    with pytest.raises(DebugnetError) as info:
        em0.remove_inet("198.51.100.1")
    assert info.value.errno == 99  # EADDRNOTAVAIL
    table.detach(em0)
    with pytest.raises(NoDevice):
        em0.add_inet("192.0.2.1", "255.255.255.0")


def test_replace_lladdr() -> None:
    table = IfTable()
    ifp, drv = make_ether()
    table.attach(ifp)
    set_flags(ifp, IfFlags.UP, 0.0)
    inits = drv.inits
    ifp.replace_lladdr(MAC_B)
    assert ifp.lladdr == MAC_B and ifp.link_ifa is not None
    assert ifp.link_ifa.addr == LinkAddress(1, MAC_B)
    assert drv.inits == inits + 1  # running: the driver is re-programmed
    assert table.ifa_ifwithaddr(LinkAddress(0, MAC_B)) is ifp.link_ifa
    assert table.ifa_ifwithaddr(LinkAddress(0, MAC_A)) is None
    with pytest.raises(InvalidArgument):
        ifp.replace_lladdr(b"\x02\x00")


def test_mac_text() -> None:
    assert mac_to_str(MAC_A) == "02:00:00:00:00:01"
    assert mac_from_str("02-00-00-00-00-01") == MAC_A
    with pytest.raises(ValueError):
        mac_from_str("02:00")
    assert refines(A("255.255.255.128"), A("255.255.255.0"))
    assert not refines(A("255.255.255.0"), A("255.255.255.0"))
    assert not refines(A("255.255.0.0"), A("255.255.255.0"))
