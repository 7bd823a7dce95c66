"""Both strategies across loss, duplication, reordering, corruption and RTT, in virtual time.

Every run must end with the server session holding a byte-exact file, or --
only when the link was cut for longer than the budget -- with ETIMEDOUT.
"""

from __future__ import annotations

import random

import pytest

from debugnet.errors import TimedOut
from debugnet.sim import LinkConfig
from debugnet.transport.config import Mode, TransportConfig
from debugnet.wire.message import MsgType
from tests.simnet import Net, assert_key_before_data, frame, run_dump, unframe

SIZE = 150_000  # three 64 KiB messages, 104 packets
IMPAIRMENTS = {
    "clean": {},
    "dup": {"duplicate": 0.05},
    "reorder": {"reorder": 0.1, "reorder_delay": 0.0003},
    "corrupt": {"corrupt": 0.05},
    "all": {"duplicate": 0.05, "reorder": 0.1, "reorder_delay": 0.0003, "corrupt": 0.05},
}
RTTS = [0.0001, 0.001, 0.05]
LOSSES = [0.0, 0.01, 0.1, 0.3]


def payload(seed: int, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


def assert_exact(net: Net, data: bytes) -> None:
    assert net.client.error is None, net.client.error
    assert net.client.finished_at is not None
    seen = net.server.seen
    assert seen.finished[-1]
    assert bytes(seen.files[-1]) == data


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("rtt", RTTS)
@pytest.mark.parametrize("impairment", list(IMPAIRMENTS))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", [Mode.SEED, Mode.WINDOW])
def test_matrix_byte_exact(mode: Mode, loss: float, impairment: str, rtt: float, seed: int) -> None:
    link = LinkConfig(rate_bps=1e9, delay=rtt / 2, loss=loss, **IMPAIRMENTS[impairment])  # type: ignore[arg-type]
    data = payload(seed)
    net = run_dump(TransportConfig(mode=mode), link, data, seed=seed * 1000 + int(loss * 100))
    assert_exact(net, data)
    stats = net.client.conn.stats
    assert stats.bytes_acked == SIZE
    if loss == 0 and impairment == "clean":
        assert stats.retransmissions == 0


@pytest.mark.parametrize("mode", [Mode.SEED, Mode.WINDOW])
def test_messages_over_64_packets(mode: Mode) -> None:
    # MTU 576: 524 data bytes per packet, a 64 KiB chunk is 126 packets.
    data = payload(7, 300_000)
    link = LinkConfig(rate_bps=1e8, delay=0.0005, loss=0.02)
    net = run_dump(TransportConfig(mode=mode, mtu=576), link, data, seed=3)
    assert_exact(net, data)


def window_config(budget: float) -> TransportConfig:
    return TransportConfig(mode=Mode.WINDOW, budget=budget, rto_max=0.1)


def seed_config() -> TransportConfig:
    # A round is 101 polls of 0.5 ms; a message gets 6 rounds.
    return TransportConfig(mode=Mode.SEED, npolls=100, nretries=4)


def cut_run(config: TransportConfig, start: float, length: float, rtt: float) -> Net:
    link = LinkConfig(rate_bps=1e9, delay=rtt / 2)
    data = payload(11, 400_000)

    def setup(net: Net) -> None:
        net.up.cut_between(start, start + length)
        net.down.cut_between(start, start + length)

    net = run_dump(config, link, data, seed=5, setup=setup, until=start + length + 30)
    if net.client.error is None:
        assert_exact(net, data)
    return net


@pytest.mark.parametrize("rtt", [0.0001, 0.001, 0.05])
def test_window_cut_shorter_than_budget_recovers(rtt: float) -> None:
    budget = 2.0
    net = cut_run(window_config(budget), 0.002, budget - 2 * 0.1 - 2 * rtt, rtt)
    assert net.client.error is None


@pytest.mark.parametrize("rtt", [0.0001, 0.001, 0.05])
def test_window_cut_longer_than_budget_times_out_on_the_budget(rtt: float) -> None:
    budget = 2.0
    start = 0.002
    net = cut_run(window_config(budget), start, budget + 0.01, rtt)
    assert isinstance(net.client.error, TimedOut)
    failed = net.client.failed_at
    assert failed is not None
    # Exactly one budget after the last ack, which came before the cut.
    assert net.client.last_rx <= start
    assert failed == pytest.approx(net.client.last_rx + budget, abs=1e-9)


@pytest.mark.parametrize("rtt", [0.0001, 0.001])
def test_seed_cut_within_its_retries_recovers(rtt: float) -> None:
    cfg = seed_config()
    # The message under way when the cut starts has 5 more rounds left.
    net = cut_run(cfg, 0.0005, 4 * cfg.seed_round - 2 * rtt, rtt)
    assert net.client.error is None
    assert net.client.conn.stats.timeouts >= 4


@pytest.mark.parametrize("rtt", [0.0001, 0.001])
def test_seed_cut_longer_than_its_retries_times_out(rtt: float) -> None:
    cfg = seed_config()
    rounds = cfg.nretries + 2
    net = cut_run(cfg, 0.0005, rounds * cfg.seed_round + 0.01, rtt)
    assert isinstance(net.client.error, TimedOut)
    failed = net.client.failed_at
    assert failed is not None
    # The message under way at the cut started at most a few polls before it.
    assert rounds * cfg.seed_round - 0.005 <= failed <= 0.0005 + rounds * cfg.seed_round + 0.001


def test_herald_ack_lost_server_reacks_from_session_port() -> None:
    dropped: list[int] = []

    def drop_first_two(port: int, ack: bytes) -> bool:
        if len(dropped) < 2:
            dropped.append(port)
            return False
        return True

    data = payload(3, 100_000)
    net = run_dump(TransportConfig(), LinkConfig(delay=0.0005), data, ack_hook=drop_first_two)
    assert_exact(net, data)
    seen = net.server.seen
    assert seen.heralds == 3 and len(seen.files) == 1  # retransmissions, one session
    assert net.client.conn.server_port == dropped[0] != 20023


KEY = bytes(range(256)) * 2  # a 512-byte key record: one packet
KDH = bytes(512)


@pytest.mark.parametrize("loss", [0.05, 0.2])
@pytest.mark.parametrize("mode", [Mode.SEED, Mode.WINDOW])
def test_key_reaches_the_server_before_any_data(mode: Mode, loss: float) -> None:
    # PROTOCOL.md 7.3: the key goes right after the herald, wholly before the
    # KDH and the data, so a dump cut short is still usable. Loss only (no
    # reordering on the wire), over many seeds: a lost key packet must hold
    # back everything queued behind it.
    data = payload(4, 70_000)
    for seed in range(40):
        link = LinkConfig(rate_bps=1e9, delay=0.0005, loss=loss)
        net = run_dump(TransportConfig(mode=mode), link, data, seed=seed, kdh=KDH, key=KEY)
        assert_exact(net, data)
        seen = net.server.seen
        assert set(seen.keys[-1]) == {KEY} and set(seen.kdhs[-1]) == {KDH}  # resent: twice
        order = seen.order[-1]
        assert_key_before_data(order)
        assert order[0] == MsgType.HERALD and order[-1] == MsgType.FINISHED


def test_frame_checksum_covers_the_ports() -> None:
    # Real UDP checksums its header too: a flipped port bit must not deliver
    # the datagram elsewhere.
    good = frame(20024, 40000, b"\0\0\0\x05")
    assert unframe(good) == (20024, 40000, b"\0\0\0\x05")
    for i in range(4):
        for bit in range(8):
            bad = bytearray(good)
            bad[i] ^= 1 << bit
            assert unframe(bytes(bad)) is None, (i, bit)


def test_corruption_never_moves_the_server_port() -> None:
    # Heavy corruption on both directions: whatever gets through still carries
    # the ports it was sent with, so the herald port learned is the session's.
    link = LinkConfig(rate_bps=1e9, delay=0.0005, corrupt=0.3)
    for seed in range(300):
        net = run_dump(TransportConfig(budget=10.0), link, b"x" * 100, seed=seed, until=60)
        assert net.client.conn.server_port == 40000, seed
        assert_exact(net, b"x" * 100)
