"""The ddb option parser against every error of PROTOCOL.md section 6."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.errors import DebugnetError, InvalidArgument, NoEntry, OutOfDomain
from debugnet.transport.options import DdbConfig, parse_ddb_options

IFACES = {"em0", "vtnet0", "igb0.100"}


def parse(text: str) -> DdbConfig:
    return parse_ddb_options(text, IFACES.__contains__)


def test_full_line_any_order() -> None:
    got = parse(" -i em0 -c 10.0.0.2 -g 10.0.0.1 -s 192.0.2.7")
    assert got == DdbConfig(
        IPv4Address("192.0.2.7"), IPv4Address("10.0.0.2"), IPv4Address("10.0.0.1"), "em0"
    )


@pytest.mark.parametrize(
    "text",
    ["-s 192.0.2.7", "  -s 192.0.2.7", "-s\t192.0.2.7", "-s 192.0.2.7 ", "-s   192.0.2.7\n"],
)
def test_server_only_with_blanks(text: str) -> None:
    got = parse(text)
    assert got.server == IPv4Address("192.0.2.7")
    assert (got.client, got.gateway, got.interface) == (None, None, None)


def test_leading_zeros_are_decimal_and_last_flag_wins() -> None:
    assert parse("-s 010.0.0.1 -s 0.0.0.9").server == IPv4Address("0.0.0.9")
    assert parse("-s 010.000.0.01").server == IPv4Address("10.0.0.1")


def test_interface_with_dot_and_digits() -> None:
    assert parse("-s 1.2.3.4 -i igb0.100").interface == "igb0.100"


@pytest.mark.parametrize(
    "text",
    [
        "",  # no server
        "-c 1.2.3.4",  # no server
        "-h",
        "-s 1.2.3.4 -h",
        "-x 1.2.3.4",  # unknown flag
        "s 1.2.3.4",  # no '-'
        "- s 1.2.3.4",  # '-' then blank
        "-5 1.2.3.4",  # '-' then number
        "-ss 1.2.3.4",  # not a single-letter flag
        "-s1.2.3.4",  # flag glued to the argument
        "-s",  # flag at end of line
        "-s 1.2.3",  # too few octets
        "-s 1.2.3.",
        "-s 1..2.3",
        "-s 1.2.3.4.5",  # trailing '.'
        "-s 1.2.3.4x",  # bad character in number
        "-s 1a.2.3.4",
        "-s 1 .2.3.4",  # blank inside the address
        "-s 1.2.3.4-c 1.2.3.5",  # no blank after the argument
        "-s a.b.c.d",
        "-s -1.2.3.4",
        "-s 1.2.3.4 -i 0em",  # interface must be an identifier
        "-s 1.2.3.4 -i",
        "-s 1.2.3.4 -i em0-s 1.2.3.4",
        "-s 1.2.3.4 --c 1.2.3.4",
        "-s 1.2.3.4 junk",
        "-s 1.2.3.4 -c 1.2.3.4/24",
    ],
)
def test_syntax_errors_are_einval(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(text)
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    "text", ["-s 256.0.0.1", "-s 1.2.3.999", "-c 1.300.0.0 -s 1.2.3.4", "-s 1.2.3.4 -g 0.0.0.4096"]
)
def test_octet_above_255_is_edom(text: str) -> None:
    with pytest.raises(OutOfDomain) as info:
        parse(text)
    assert info.value.errno == errno.EDOM


def test_edom_wins_over_later_syntax_error() -> None:
    with pytest.raises(OutOfDomain):
        parse("-s 1.2.3.256 garbage")


def test_missing_interface_is_enoent() -> None:
    with pytest.raises(NoEntry) as info:
        parse("-s 1.2.3.4 -i em9")
    assert info.value.errno == errno.ENOENT


def test_lookup_is_asked_for_the_name() -> None:
    asked: list[str] = []
    parse_ddb_options("-i vtnet0 -s 1.2.3.4", lambda n: asked.append(n) or True)
    assert asked == ["vtnet0"]


@given(st.tuples(*[st.integers(0, 255)] * 4))
def test_every_valid_address_round_trips(octets: tuple[int, int, int, int]) -> None:
    text = ".".join(map(str, octets))
    assert str(parse(f"-s {text} -c {text}").client) == text


@given(st.text(alphabet=" -.sgci0123456789em\tx", max_size=30))
def test_never_anything_but_the_three_errnos(text: str) -> None:
    try:
        parse(text)
    except DebugnetError as exc:
        assert exc.errno in (errno.EINVAL, errno.EDOM, errno.ENOENT)
