"""The kernel's send loop, step for step, in virtual time.

One message at a time: all its packets go out, then the sender polls every
``poll_interval``; acks are looked at only when a poll runs, and completion is
checked before each poll, so a message costs at least two poll intervals even
on a perfect link. After ``npolls`` fruitless polls the unacked packets are
sent again; after more than ``nretries`` such rounds the message fails with
ETIMEDOUT. The one departure from the seed: acks are kept as a set of seqnos,
not as bits of a 64-bit word, so messages of any size work and no packet
counts as acked unless its own ack came.
"""

from __future__ import annotations

import logging
from collections import deque

from debugnet.errors import TimedOut
from debugnet.transport.config import TransportConfig
from debugnet.transport.strategy import OutMessage, SendStrategy, TransportStats
from debugnet.wire.constants import DEBUGNET_HEADER_SIZE as HEADER_SIZE
from debugnet.wire.constants import DEBUGNET_MAX_IN_FLIGHT

log = logging.getLogger(__name__)


class SeedStrategy(SendStrategy):
    def __init__(
        self, config: TransportConfig, stats: TransportStats, done: list[OutMessage]
    ) -> None:
        super().__init__(config, stats, done)
        self._queue: deque[OutMessage] = deque()
        self._current: OutMessage | None = None
        self._acked: set[int] = set()
        self._inbox: list[int] = []
        self._polls = 0
        self._retries = 0
        self._resend = False
        self._next_check: float | None = None

    def submit(self, msg: OutMessage) -> None:
        self._queue.append(msg)

    @property
    def outstanding(self) -> int:
        pending = sum(len(m.packets) for m in self._queue)
        if self._current is not None:
            pending += len(self._current.packets) - len(self._acked)
        return pending

    def on_ack(self, seqno: int, now: float) -> None:
        # The kernel only reads acks inside its poll; keep them until then.
        if self._current is None:
            self.stats.acks_stale += 1
            return
        self._inbox.append(seqno)

    def transmit(self, now: float) -> list[bytes]:
        if self.failure is not None:
            return []
        msg = self._current
        if msg is None:
            if not self._queue:
                return []
            msg = self._current = self._queue.popleft()
            self._acked = set()
            self._retries = 0
            self._resend = True
        if not self._resend:
            return []
        self._resend = False
        first = msg.first_seqno
        acked = self._acked
        out = [p for i, p in enumerate(msg.packets) if first + i not in acked]
        if self._retries:
            self.stats.retransmissions += len(out)
        self.stats.packets_sent += len(out)
        # Right after sending: the first completion check fails, then a poll.
        self._polls = 1
        self._poll()
        self._next_check = now + self.config.poll_interval
        return out

    def next_deadline(self) -> float | None:
        if self._resend:
            return None
        return self._next_check

    def handle_timer(self, now: float) -> None:
        check = self._next_check
        if check is None or now < check or self._resend:
            return
        msg = self._current
        assert msg is not None
        if len(self._acked) == len(msg.packets):
            self._complete(msg)
            return
        polls = self._polls
        self._polls = polls + 1
        if polls > self.config.npolls:
            retries = self._retries
            self._retries = retries + 1
            self.stats.timeouts += 1
            if retries > self.config.nretries:
                self.failure = TimedOut(
                    f"no ack for seqnos {msg.first_seqno}..{msg.end_seqno - 1} after "
                    f"{retries} retransmission rounds"
                )
                self._next_check = None
                return
            log.log(
                self.log_level,
                "seed: retransmitting unacked of seqno %d (round %d)",
                msg.first_seqno,
                retries,
            )
            self._resend = True
            self._next_check = None
            return
        self._poll()
        self._next_check = now + self.config.poll_interval

    def abort(self) -> None:
        self._queue.clear()
        self._current = None
        self._next_check = None
        self._resend = False

    def _poll(self) -> None:
        msg = self._current
        inbox = self._inbox
        if msg is None or not inbox:
            inbox.clear()
            return
        base = msg.first_seqno
        end = msg.end_seqno
        # The kernel ignores acks >= base + 64 ("too far in the future") because
        # its bitmap has 64 bits. Here that horizon can decide nothing: an ack
        # at or past base + 64 either names a packet of this message (one over
        # 64 packets, which the kernel cannot send whole, and whose ack must
        # count or the message never completes) or lies at or past ``end``,
        # where no packet was sent and which is ignored anyway. So the one
        # future bound is ``end``; the observable rule (tested) is that acks in
        # [base + 64, end) count and acks >= end never do.
        stats = self.stats
        acked = self._acked
        for seqno in inbox:
            if seqno < base:
                stats.acks_stale += 1
            elif seqno >= end:
                stats.acks_future += 1
                if seqno >= base + DEBUGNET_MAX_IN_FLIGHT:
                    log.log(self.log_level, "seed: ack %d too far in future (base %d)", seqno, base)
            elif seqno not in acked:
                acked.add(seqno)
                stats.acks += 1
                stats.bytes_acked += len(msg.packets[seqno - base]) - HEADER_SIZE
            else:
                stats.acks_stale += 1
        inbox.clear()

    def _complete(self, msg: OutMessage) -> None:
        msg.remaining = 0
        self.done.append(msg)
        self._current = None
        self._next_check = None
        self._inbox.clear()
