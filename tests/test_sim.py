"""Tests for the discrete-event simulator."""

from __future__ import annotations

import pytest

from debugnet.errors import LocalProtocolError
from debugnet.sim import LinkConfig, Simulator, duplex


def test_call_at_past_refused() -> None:
    sim = Simulator(start=5.0)
    with pytest.raises(LocalProtocolError):
        sim.call_at(4.0, lambda: None)


def test_duplex_delivers_after_delay() -> None:
    sim = Simulator()
    at_a: list[tuple[float, bytes]] = []
    at_b: list[tuple[float, bytes]] = []
    ab, ba = duplex(
        sim,
        LinkConfig(delay=0.5),
        lambda d: at_a.append((sim.now, d)),
        lambda d: at_b.append((sim.now, d)),
    )
    ab.send(b"to-b")
    ba.send(b"to-a")
    assert sim.run() == 2
    assert at_b == [(0.5, b"to-b")]
    assert at_a == [(0.5, b"to-a")]
