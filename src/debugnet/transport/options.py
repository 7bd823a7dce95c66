"""The kernel debugger's ``-s <server> [-g <gateway>] [-c <localip>] [-i <interface>]``.

Reproduces debugnet_parse_ddb_cmd over ddb's lexer (whitespace-sensitive:
runs of blanks are one token, ``-`` and ``.`` are tokens of their own,
numbers are decimal digits that must not run into letters) with the same
errno for the same input: EDOM for an octet above 255, EINVAL for any syntax
error, for ``-h`` and for a missing server. An interface that does not exist
is ENOENT; the seed returns an uninitialized value there.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Address

from debugnet.errors import InvalidArgument, NoEntry, OutOfDomain


class Tok(Enum):
    EOL = "end of line"
    WSPACE = "white space"
    MINUS = "'-'"
    DOT = "'.'"
    NUMBER = "number"
    IDENT = "identifier"
    OTHER = "other"


_IDENT_START = set(string.ascii_letters + "_\\")
_IDENT_CHARS = _IDENT_START | set(string.digits + ":.")
_NUMBER_TAIL = set(string.ascii_letters + string.digits + "_")
_BLANKS = " \t"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    text: str = ""
    number: int = 0


@dataclass(frozen=True, slots=True)
class DdbConfig:
    """What the command line asked for; absent options are None."""

    server: IPv4Address
    client: IPv4Address | None = None
    gateway: IPv4Address | None = None
    interface: str | None = None


def usage(command: str) -> str:
    return f"Usage: {command} -s <server> [-g <gateway> -c <localip> -i <interface>]"


def _lex(text: str) -> Iterator[Token]:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            break
        if c in _BLANKS:
            while i < n and text[i] in _BLANKS:
                i += 1
            yield Token(Tok.WSPACE)
        elif c.isascii() and c.isdigit():
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j < n and text[j] in _NUMBER_TAIL:
                yield Token(Tok.OTHER, text[i : j + 1])  # ddb: "Bad character in number"
                return
            yield Token(Tok.NUMBER, text[i:j], int(text[i:j]))
            i = j
        elif c in _IDENT_START:
            j = i + 1
            while j < n and text[j] in _IDENT_CHARS:
                j += 1
            yield Token(Tok.IDENT, text[i:j])
            i = j
        elif c == "-":
            yield Token(Tok.MINUS, c)
            i += 1
        elif c == ".":
            yield Token(Tok.DOT, c)
            i += 1
        else:
            yield Token(Tok.OTHER, c)
            i += 1
    while True:
        yield Token(Tok.EOL)


def _ipv4(tokens: Iterator[Token], name: str) -> IPv4Address:
    value = 0
    for octet in range(4):
        tok = next(tokens)
        if tok.kind is not Tok.NUMBER:
            raise InvalidArgument(f"{name}: octet {octet} expected number; found {tok.kind.value}")
        if tok.number > 255:
            raise OutOfDomain(f"{name}: octet {octet} out of range: {tok.number}")
        value = (value << 8) | tok.number
        if octet < 3:
            tok = next(tokens)
            if tok.kind is not Tok.DOT:
                raise InvalidArgument(f"{name}: octet {octet} expected '.'; found {tok.kind.value}")
    return IPv4Address(value)


_ADDRESS_FLAGS = {"s": "server", "g": "gateway", "c": "client"}


def parse_ddb_options(
    args: str, interface_exists: Callable[[str], bool], command: str = "netdump"
) -> DdbConfig:
    """Parse what follows the command name; raise the seed's errno as an exception."""
    tokens = _lex(args)
    addresses: dict[str, IPv4Address] = {}
    interface: str | None = None
    bad = f"{command}: bad syntax"
    tok = next(tokens)
    if tok.kind is Tok.WSPACE:
        tok = next(tokens)
    while tok.kind is not Tok.EOL:
        if tok.kind is not Tok.MINUS:
            raise InvalidArgument(f"{bad}; expected '-', got {tok.kind.value}. {usage(command)}")
        tok = next(tokens)
        if tok.kind is not Tok.IDENT:
            raise InvalidArgument(f"{bad}; expected a flag, got {tok.kind.value}. {usage(command)}")
        if len(tok.text) > 1:
            raise InvalidArgument(f"{bad}; expected single option flag, got '{tok.text}'")
        flag = tok.text
        if flag != "i" and flag not in _ADDRESS_FLAGS:
            raise InvalidArgument(usage(command))  # -h and unknown flags
        if next(tokens).kind is not Tok.WSPACE:
            raise InvalidArgument(f"{bad}; expected space after flag {flag}. {usage(command)}")
        if flag == "i":
            tok = next(tokens)
            if tok.kind is not Tok.IDENT:
                raise InvalidArgument(f"{command}: expected interface, got {tok.kind.value}")
            if not interface_exists(tok.text):
                raise NoEntry(f"could not locate interface {tok.text}")
            interface = tok.text
        else:
            addresses[flag] = _ipv4(tokens, _ADDRESS_FLAGS[flag])
        tok = next(tokens)
        if tok.kind is Tok.EOL:
            break
        if tok.kind is not Tok.WSPACE:
            raise InvalidArgument(
                f"{bad}; expected space after flag {flag} option, got {tok.kind.value}"
            )
        tok = next(tokens)
    if "s" not in addresses:
        raise InvalidArgument(f"{command}: need a destination server address. {usage(command)}")
    return DdbConfig(addresses["s"], addresses.get("c"), addresses.get("g"), interface)
