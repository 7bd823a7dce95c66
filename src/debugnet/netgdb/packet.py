"""GDB remote-protocol packet bodies: checksums, framing, hex and binary escapes."""

from __future__ import annotations

from debugnet.errors import WireError

_ESCAPED = frozenset(b"#$}*")


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def frame(body: bytes) -> bytes:
    """``$body#xx``; the caller has escaped the body if it holds binary data."""
    return b"$" + body + b"#%02x" % checksum(body)


def unframe(unit: bytes) -> bytes:
    """The body of ``$body#xx``, checked; WireError if not a valid packet."""
    if len(unit) < 4 or unit[:1] not in (b"$", b"%") or unit[-3:-2] != b"#":
        raise WireError("gdb.packet", unit[:16], "not a $...#xx packet")
    body = unit[1:-3]
    try:
        want = int(unit[-2:], 16)
    except ValueError:
        raise WireError("gdb.checksum", unit[-2:], "not two hex digits") from None
    if checksum(body) != want:
        raise WireError("gdb.checksum", want, f"body sums to {checksum(body):02x}")
    return body


def escape(data: bytes) -> bytes:
    """Binary data for a packet: ``#$}*`` become ``}`` and the byte XOR 0x20."""
    if not _ESCAPED.intersection(data):
        return data
    out = bytearray()
    for b in data:
        if b in _ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    if 0x7D not in data:
        return data
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise WireError("gdb.escape", data[-8:], "escape at the end")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)
