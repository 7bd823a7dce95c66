import socket
import struct
from ipaddress import IPv4Address as A

from debugnet.devices import hostimport
from debugnet.devices.hostimport import HostAddr, import_host, netlink_ipv4_addrs
from debugnet.ifnet import IfFlags, IfType


def _rtattr(kind: int, value: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(value), kind) + value


def _newaddr(index: int, prefix: int, *attrs: bytes) -> bytes:
    body = struct.pack("=BBBBI", socket.AF_INET, prefix, 0, 0, index) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), 20, 0, 1, 0) + body


def test_address_messages_are_parsed_with_peers_and_broadcasts() -> None:
    out: dict[int, list[HostAddr]] = {}
    hostimport._parse_addr_message(
        _newaddr(
            3,
            24,
            _rtattr(1, A("198.51.100.1").packed),
            _rtattr(2, A("198.51.100.1").packed),
            _rtattr(4, A("198.51.100.255").packed),
            _rtattr(3, b"eth0\0\0\0\0"),
        ),
        out,
    )
    hostimport._parse_addr_message(
        _newaddr(7, 32, _rtattr(2, A("203.0.113.1").packed), _rtattr(1, A("203.0.113.2").packed)),
        out,
    )
    assert out[3] == [HostAddr(A("198.51.100.1"), 24, A("198.51.100.255"), None)]
    assert out[3][0].netmask == A("255.255.255.0")
    assert out[7] == [HostAddr(A("203.0.113.1"), 32, None, A("203.0.113.2"))]


def test_non_ipv4_messages_are_skipped() -> None:
    out: dict[int, list[HostAddr]] = {}
    body = struct.pack("=BBBBI", socket.AF_INET6, 64, 0, 0, 1)
    hostimport._parse_addr_message(struct.pack("=IHHII", 16 + len(body), 20, 0, 1, 0) + body, out)
    assert out == {}


def test_the_host_table_has_loopback_as_linux_reports_it() -> None:
    table = import_host()
    lo = table.unit("lo")
    assert lo is not None
    assert lo.index == socket.if_nametoindex("lo")
    assert lo.type == IfType.LOOP and lo.flags & IfFlags.LOOPBACK and lo.flags & IfFlags.UP
    assert A("127.0.0.1") in [a.addr for a in lo.inet_addrs()]
    assert netlink_ipv4_addrs()[lo.index][0].prefixlen == 8
