"""Client connection edges an ordinary dump never reaches, in virtual time.

32-bit seqnos past 65,535 and at the end of their space, and the retransmit
timeout's doubling. Each test was checked against the bug it exists for:
introduced on purpose, the test failed; reverted, it passed.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import resource
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from debugnet.errors import NoSpace
from debugnet.transport.client_events import MessageAcked
from debugnet.transport.config import Mode, TransportConfig
from debugnet.transport.connection import ClientConnection
from debugnet.wire.message import Message, MsgType

PORT = 41234
HEADER = struct.Struct("!IIQII")  # PROTOCOL.md: type, seqno, offset, length, aux2
TINY_MTU = 20 + 8 + 24 + 16  # 16 bytes of data per packet: 2**16 packets in 1 MiB


def ack(seqno: int) -> bytes:
    return struct.pack("!I", seqno)


@contextlib.contextmanager
def address_space_growth_limited(extra: int) -> Iterator[None]:
    """RLIMIT_AS at the current size plus ``extra`` bytes, for the block only."""
    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    old = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def run_acking_everything(conn: ClientConnection, until_acked: int, step: float) -> list[int]:
    """Ack every packet ``step`` after it is sent; the seqnos sent, in order."""
    sent: list[int] = []
    now = 0.0
    acked: set[int] = set()
    while until_acked not in acked:
        out = conn.datagrams_to_send(now)
        seqnos = [HEADER.unpack_from(d)[1] for d, _ in out]
        sent.extend(seqnos)
        now += step
        for seqno in seqnos:
            conn.receive_datagram(ack(seqno), now, PORT)
        deadline = conn.next_deadline()
        if deadline is not None and deadline <= now:
            conn.handle_timer(now)
        while (ev := conn.next_event()) is not None:
            if isinstance(ev, MessageAcked):
                acked.add(ev.message_id)
        assert now < 600, "the dump stalled"
    return sent


@pytest.mark.parametrize("mode", [Mode.WINDOW, Mode.SEED])
def test_seqnos_past_65535_are_sent_and_acked_in_full(mode: Mode) -> None:
    cfg = TransportConfig(mode=mode, mtu=TINY_MTU, window=1024)
    conn = ClientConnection(cfg)
    packets = 70_000
    ident = conn.send(MsgType.DATA, bytes(16 * packets))
    sent = run_acking_everything(conn, ident, step=cfg.poll_interval)
    assert sent == list(range(1, packets + 2))  # the herald is seqno 1
    assert conn.stats.retransmissions == 0  # every full-width ack was taken
    assert conn.idle


def test_messages_from_the_peer_past_65535_are_acked_in_full() -> None:
    got: list[int] = []
    conn = ClientConnection(
        TransportConfig(), rx_handler=lambda m: got.append(m.header.seqno) or True
    )
    conn.datagrams_to_send(0.0)
    conn.receive_datagram(ack(1), 0.001, PORT)
    for seqno in (65_535, 65_536, 65_537, 2**32 - 1):
        conn.receive_datagram(Message.build(MsgType.DATA, seqno, b"x").emit(), 0.002, PORT)
    assert got == [65_535, 65_536, 65_537, 2**32 - 1]
    assert conn.datagrams_to_send(0.002) == [
        (ack(s), PORT) for s in (65_535, 65_536, 65_537, 2**32 - 1)
    ]


def test_a_message_past_the_32_bit_seqno_space_is_refused(tmp_path: Path) -> None:
    """A single byte per packet: 2**32 - 1 packets after the herald would need seqno 2**32.

    The data is a sparse file mapped read-only, so nothing is ever read; and
    while ``send`` runs the address space may grow by 512 MiB only, so a client
    that forgot the check fails with MemoryError instead of eating the machine.
    """
    cfg = TransportConfig(mtu=20 + 8 + 24 + 1)
    conn = ClientConnection(cfg)
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(2**32)
    with open(sparse, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        view = memoryview(m)
        try:
            with pytest.raises(NoSpace), address_space_growth_limited(512 << 20):
                conn.send(MsgType.DATA, view[: 2**32 - 1])  # seqnos 2 .. 2**32
            assert conn.outstanding == 1  # only the herald: nothing was queued
            ident = conn.send(MsgType.DATA, b"x")  # the space is still there for what fits
        finally:
            view.release()
    sent = run_acking_everything(conn, ident, step=0.001)
    assert sent == [1, 2]


def test_retransmit_timeout_doubles_up_to_its_cap() -> None:
    """RFC 6298 5.5: each expiry doubles the timeout; an ack of new data resets it."""
    cfg = TransportConfig(rto_min=0.01, rto_max=1.0, budget=10.0)
    conn = ClientConnection(cfg)
    conn.datagrams_to_send(0.0)
    conn.receive_datagram(ack(1), 0.0001, PORT)  # one tiny RTT sample: the timeout is the floor
    start = 0.001
    conn.send(MsgType.DATA, b"lost")
    assert [HEADER.unpack_from(d)[1] for d, _ in conn.datagrams_to_send(start)] == [2]
    sends = [start]
    now = start
    while len(sends) < 10:
        deadline = conn.next_deadline()
        assert deadline is not None
        now = deadline
        conn.handle_timer(now)
        out = conn.datagrams_to_send(now)
        if out:
            assert [HEADER.unpack_from(d)[1] for d, _ in out] == [2]
            sends.append(now)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert gaps == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0])
    # The lost packet finally gets through: the next loss waits the floor again.
    conn.receive_datagram(ack(2), now + 0.0001, PORT)
    conn.send(MsgType.DATA, b"again")
    t = now + 0.001
    assert len(conn.datagrams_to_send(t)) == 1
    deadline = conn.next_deadline()
    assert deadline is not None and deadline - t == pytest.approx(0.01, abs=0.002)
