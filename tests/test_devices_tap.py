"""The TAP driver's receive path on a socket pair standing in for /dev/net/tun."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from debugnet.devices import tap
from debugnet.ifnet import IfFlags, Ifnet, IfTable

MAC = bytes.fromhex("0200c0ffee01")
OTHER = bytes.fromhex("020000000099")


@pytest.fixture
def tap_pair() -> Iterator[tuple[socket.socket, Ifnet]]:
    host, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    ifp = Ifnet(
        "tap0",
        tap.TAP_OPS,
        lladdr=MAC,
        flags=IfFlags.BROADCAST,
        softc=tap.TapSoftc("test", ours.fileno()),
    )
    IfTable().attach(ifp)
    try:
        yield host, ifp
    finally:
        host.close()
        ours.close()


def test_poll_counts_only_frames_the_station_filter_delivers(
    tap_pair: tuple[socket.socket, Ifnet],
) -> None:
    host, ifp = tap_pair
    for _ in range(3):
        host.send(OTHER + OTHER + bytes(48))  # for another station: filtered
    host.send(MAC + OTHER + bytes(48))
    assert tap.poll(ifp, 64) == 1
    assert ifp.stats.ipackets == 1 and ifp.dequeue_input() == MAC + OTHER + bytes(48)


def test_poll_stops_at_count_delivered_frames(tap_pair: tuple[socket.socket, Ifnet]) -> None:
    host, ifp = tap_pair
    for n in range(3):
        host.send(OTHER + OTHER + bytes(48))
        host.send(MAC + OTHER + bytes([n]) + bytes(47))
    assert tap.poll(ifp, 2) == 2 and ifp.stats.ipackets == 2
    assert tap.poll(ifp, 2) == 1 and ifp.stats.ipackets == 3
