"""Every parser's first step: see its argument as bytes, whatever buffer it came in."""

from __future__ import annotations


def octets(data: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    """``data`` such that ``len()`` and indexing count bytes.

    A memoryview of wider items (``array('I')``, a cast view) would otherwise
    make lengths count items and slices hold more bytes than checked.
    """
    if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
        try:
            return data.cast("B")
        except TypeError:  # not C-contiguous: copy
            return data.tobytes()
    return data
