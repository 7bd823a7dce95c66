"""A sliding window over the packet stream, across message boundaries.

Every packet keeps the seqno and offset the kernel would give it, so any
netdumpd accepts the stream; only the timing differs. Up to ``cwnd`` packets
(never more than ``config.window``) are in flight; each ack retires exactly
its own packet. Loss is detected as QUIC does it: a packet is lost once
``reorder_threshold`` packets transmitted after it were acked, or once a later
one was acked and 9/8 RTT passed; otherwise the retransmission timeout (RFC
6298: SRTT/RTTVAR, Karn's rule, a floor, a cap, doubling backoff) fires.
Transmissions carry their own order number because a retransmission keeps the
packet's seqno.

How many packets may be in flight is the congestion controller's ``cwnd``
(``transport/congestion``, the algorithm ``config.cc`` names); the window
tells it of every ack, loss and timeout and keeps the RTT estimate it reads.

Give-up is a time budget: no new ack for ``give_up_after`` seconds while
packets are outstanding fails with ETIMEDOUT. The backed-off timeout is
capped at ``rto_max`` so a link that comes back is noticed within that.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque

from debugnet.errors import TimedOut
from debugnet.transport import congestion
from debugnet.transport.config import TransportConfig
from debugnet.transport.congestion import LossVerdict
from debugnet.transport.strategy import OutMessage, SendStrategy, TransportStats
from debugnet.wire.constants import DEBUGNET_HEADER_SIZE

log = logging.getLogger(__name__)

_TIME_THRESHOLD = 9 / 8


class _Sent:
    """One transmitted, not yet acked packet."""

    __slots__ = ("data", "lost", "msg", "retransmitted", "seqno", "time", "tx")

    def __init__(self, seqno: int, data: bytes, msg: OutMessage, tx: int, time: float) -> None:
        self.seqno = seqno
        self.data = data
        self.msg = msg
        self.tx = tx
        self.time = time
        self.retransmitted = False
        self.lost = False


class WindowStrategy(SendStrategy):
    def __init__(
        self, config: TransportConfig, stats: TransportStats, done: list[OutMessage]
    ) -> None:
        super().__init__(config, stats, done)
        self._cc = congestion.create(config)
        self._cc_on_ack = self._cc.on_ack
        self._rto_min = config.rto_min
        self._rto_max = config.rto_max
        self._budget = config.give_up_after
        # Packets never sent: (seqno, datagram, message).
        self._pending: deque[tuple[int, bytes, OutMessage]] = deque()
        self._next_seqno: int | None = None
        self._sent: dict[int, _Sent] = {}
        self._order: deque[tuple[int, int]] = deque()  # (tx, seqno) by transmission
        self._lost: list[int] = []  # heap of seqnos awaiting retransmission
        self._tx = 0
        self._largest_acked_tx = -1
        self._flight = 0
        self._blocking: OutMessage | None = None
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.min_rtt = math.inf
        self.latest_rtt = 0.0
        self._rto = config.rto_initial
        self._backoff = 0
        self._rto_deadline: float | None = None
        self._last_progress = 0.0

    # -- queueing ----------------------------------------------------------------

    def submit(self, msg: OutMessage) -> None:
        pending = self._pending
        seqno = msg.first_seqno
        for data in msg.packets:
            pending.append((seqno, data, msg))
            seqno += 1
        self._next_seqno = seqno

    @property
    def outstanding(self) -> int:
        return len(self._pending) + len(self._sent)

    @property
    def in_flight(self) -> int:
        return self._flight

    @property
    def cwnd(self) -> float:
        return self._cc.cwnd

    @property
    def rto(self) -> float:
        """The timeout the next arming uses, backoff included."""
        return min(self._rto * (1 << min(self._backoff, 16)), self._rto_max)

    # -- sending -----------------------------------------------------------------

    def transmit(self, now: float) -> list[bytes]:
        if self.failure is not None:
            return []
        limit = min(int(self._cc.cwnd), self.config.window)
        flight = self._flight
        if flight >= limit:
            return []
        out: list[bytes] = []
        sent = self._sent
        order = self._order
        tx = self._tx
        if not sent:
            self._last_progress = now
        lost = self._lost
        while lost and flight < limit:
            entry = sent.get(heapq.heappop(lost))
            if entry is None or not entry.lost:
                continue
            entry.lost = False
            entry.retransmitted = True
            entry.tx = tx
            entry.time = now
            order.append((tx, entry.seqno))
            tx += 1
            flight += 1
            out.append(entry.data)
        retransmitted = len(out)
        pending = self._pending
        while pending and flight < limit:
            seqno, data, msg = pending[0]
            if msg is not self._blocking:
                if self._blocking is not None or (msg.barrier and sent):
                    break
                if msg.barrier:
                    self._blocking = msg
            pending.popleft()
            entry = _Sent(seqno, data, msg, tx, now)
            sent[seqno] = entry
            order.append((tx, seqno))
            tx += 1
            flight += 1
            out.append(data)
        self._tx = tx
        self._flight = flight
        if out:
            self.stats.packets_sent += len(out)
            self.stats.retransmissions += retransmitted
            if self._rto_deadline is None:
                self._rto_deadline = now + self.rto
        return out

    # -- acks --------------------------------------------------------------------

    def on_ack(self, seqno: int, now: float) -> None:
        # The hot path: one call per data packet, so the common steps are inline.
        entry = self._sent.pop(seqno, None)
        stats = self.stats
        if entry is None:
            if self._next_seqno is None or seqno >= self._next_seqno or self._unsent(seqno):
                stats.acks_future += 1
            else:
                stats.acks_stale += 1
            return
        stats.acks += 1
        stats.bytes_acked += len(entry.data) - DEBUGNET_HEADER_SIZE
        if entry.lost:
            stats.losses -= 1  # it was not lost after all, only late
        else:
            self._flight -= 1
        if not entry.retransmitted:
            rtt = now - entry.time
            srtt = self.srtt
            if srtt is None or rtt < self.min_rtt:
                self._rtt_sample(rtt)
            else:
                # RFC 6298 section 2.3, inline.
                self.latest_rtt = rtt
                rttvar = self.rttvar = 0.75 * self.rttvar + 0.25 * abs(srtt - rtt)
                srtt = self.srtt = 0.875 * srtt + 0.125 * rtt
                rto = srtt + 4 * rttvar
                self._rto = self._rto_min if rto < self._rto_min else min(rto, self._rto_max)
        tx = entry.tx
        if tx > self._largest_acked_tx:
            self._largest_acked_tx = tx
        self._cc_on_ack(entry.time)
        msg = entry.msg
        msg.remaining -= 1
        if msg.remaining == 0:
            self.done.append(msg)
            if msg is self._blocking:
                self._blocking = None
        self._last_progress = now
        if self._backoff:
            self._backoff = 0
        # Loss detection, with the in-order case (nothing to declare) kept short.
        order = self._order
        if order and order[0][0] == tx:
            order.popleft()
        if order and order[0][0] < tx:
            self._detect_losses(now)
        if self._flight:
            self._rto_deadline = now + (self._rto if not self._backoff else self.rto)
        else:
            self._rto_deadline = None

    def _unsent(self, seqno: int) -> bool:
        pending = self._pending
        return bool(pending) and seqno >= pending[0][0]

    def _rtt_sample(self, rtt: float) -> None:
        self.latest_rtt = rtt
        if rtt < self.min_rtt:
            self.min_rtt = rtt
        srtt = self.srtt
        if srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(srtt - rtt)
            self.srtt = 0.875 * srtt + 0.125 * rtt
        rto = self.srtt + 4 * self.rttvar
        self._rto = min(max(rto, self._rto_min), self._rto_max)

    # -- loss --------------------------------------------------------------------

    def _oldest_live(self) -> tuple[int, int, _Sent] | None:
        """The oldest transmission still in flight, stale order entries dropped."""
        order = self._order
        sent = self._sent
        while order:
            tx, seqno = order[0]
            entry = sent.get(seqno)
            if entry is None or entry.tx != tx or entry.lost:
                order.popleft()
                continue
            return tx, seqno, entry
        return None

    def _loss_delay(self) -> float:
        return _TIME_THRESHOLD * max(self.srtt or 0.0, self.latest_rtt)

    def _detect_losses(self, now: float) -> None:
        largest = self._largest_acked_tx
        by_count = largest - self.config.reorder_threshold
        delay = self._loss_delay()
        while (oldest := self._oldest_live()) is not None:
            tx, seqno, entry = oldest
            if not (tx <= by_count or (tx < largest and entry.time + delay <= now)):
                break
            self._order.popleft()
            self._declare_lost(seqno, entry, now)

    def _loss_deadline(self) -> float | None:
        oldest = self._oldest_live()
        if oldest is None or oldest[0] >= self._largest_acked_tx:
            return None
        return oldest[2].time + self._loss_delay()

    def _declare_lost(self, seqno: int, entry: _Sent, now: float) -> None:
        entry.lost = True
        self._flight -= 1
        heapq.heappush(self._lost, seqno)
        self.stats.losses += 1
        verdict = self._cc.on_loss(entry.time, now, self.srtt, self.min_rtt)
        if verdict is LossVerdict.RANDOM:
            self.stats.random_losses += 1

    # -- timers ------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        if self.failure is not None or not self._sent:
            return None
        deadline = self._last_progress + self._budget
        rto = self._rto_deadline
        if rto is not None and rto < deadline:
            deadline = rto
        loss = self._loss_deadline()
        if loss is not None and loss < deadline:
            deadline = loss
        return deadline

    def handle_timer(self, now: float) -> None:
        if self.failure is not None or not self._sent:
            return
        if now >= self._last_progress + self._budget:
            self.failure = TimedOut(
                f"no ack for {now - self._last_progress:.3f} s ({len(self._sent)} packets unacked)"
            )
            self._rto_deadline = None
            return
        loss = self._loss_deadline()
        if loss is not None and now >= loss:
            self._detect_losses(now)
        rto = self._rto_deadline
        if rto is not None and now >= rto:
            self._on_timeout(now)

    def _on_timeout(self, now: float) -> None:
        """Nothing was acked for a whole RTO: everything in flight is presumed lost."""
        self.stats.timeouts += 1
        for seqno, entry in self._sent.items():
            if not entry.lost:
                entry.lost = True
                self._flight -= 1
                heapq.heappush(self._lost, seqno)
                self.stats.losses += 1
        self._order.clear()
        self._cc.on_timeout(now, self.srtt, self.min_rtt)
        self._backoff += 1
        self._rto_deadline = None
        log.log(
            self.log_level, "window: timeout, rto now %.3f s, cwnd %.1f", self.rto, self._cc.cwnd
        )

    def abort(self) -> None:
        self._pending.clear()
        self._sent.clear()
        self._order.clear()
        self._lost.clear()
        self._flight = 0
        self._rto_deadline = None
