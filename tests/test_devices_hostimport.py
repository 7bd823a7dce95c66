import logging
import socket
import struct
from ipaddress import IPv4Address as A

import pytest

from debugnet.cli import main
from debugnet.devices import hostimport
from debugnet.devices.hostimport import (
    HostAddr,
    HostInterface,
    import_host,
    netlink_ipv4_addrs,
)
from debugnet.ifnet import IfFlags, IfType, LinkState


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


def _host(name: str, index: int, *addrs: HostAddr, linux_flags: int = 0x1043) -> HostInterface:
    mac = bytes([2, 0, 0, 0, index >> 8 & 0xFF, index & 0xFF])
    return HostInterface(name, index, mac, 1500, linux_flags, 1, LinkState.UP, addrs)


def test_import_skips_what_the_model_cannot_represent_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = [
        _host("lo", 1, HostAddr(A("127.0.0.1"), 8)),
        # a peer on a veth (no POINTOPOINT): Linux allows it
        _host("d0", 2, HostAddr(A("198.51.100.1"), 32, None, A("198.51.100.2"))),
        # one address with two prefixes
        _host("d1", 3, HostAddr(A("198.51.100.3"), 24), HostAddr(A("198.51.100.3"), 25)),
        _host("1", 4),  # an all-digit name: not index 1
        _host("d2", 70000),  # beyond our 16-bit index space
    ]
    monkeypatch.setattr(hostimport, "list_host_interfaces", lambda: hosts)
    with caplog.at_level(logging.WARNING, logger="debugnet.devices.hostimport"):
        table = import_host()
    assert [(i.name, i.index) for i in table] == [("lo", 1), ("d0", 2), ("d1", 3), ("1", 4)]
    d0, d1 = table.byname("d0"), table.byname("d1")
    assert d0 is not None and d0.inet_addrs() == []
    assert d1 is not None and [(str(a.addr), str(a.netmask)) for a in d1.inet_addrs()] == [
        ("198.51.100.3", "255.255.255.0")
    ]
    assert "d0: address 198.51.100.1/32 not imported" in caplog.text
    assert "d1: address 198.51.100.3/25 not imported" in caplog.text
    assert "d2 (index 70000) not imported" in caplog.text


def test_ifconfig_finds_an_all_digit_name_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = [_host("lo", 1), _host("1", 2)]
    monkeypatch.setattr(hostimport, "list_host_interfaces", lambda: hosts)
    assert main(["ifconfig", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1: flags=") and "\tindex 2 " in out
