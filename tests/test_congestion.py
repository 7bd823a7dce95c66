"""Each congestion controller's window response to acks, losses and timeouts.

Virtual time: every call carries the send time of the packet and ``now``; the
expected windows are worked out by hand from the algorithm's rules.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from debugnet.transport import congestion
from debugnet.transport.config import CongestionControl, TransportConfig
from debugnet.transport.congestion import LossVerdict
from debugnet.transport.congestion.fixed import Fixed
from debugnet.transport.congestion.hybrid import Hybrid
from debugnet.transport.congestion.reno import Reno


def _make(cc: CongestionControl, **kw: Any) -> congestion.CongestionController:
    return congestion.create(TransportConfig(cc=cc, **kw))


def test_registry_names_one_class_per_setting() -> None:
    assert set(congestion.REGISTRY) == set(CongestionControl)
    assert type(_make(CongestionControl.HYBRID)) is Hybrid
    assert type(_make(CongestionControl.RENO)) is Reno
    assert type(_make(CongestionControl.FIXED)) is Fixed


def test_initial_window_is_capped_by_the_window() -> None:
    assert _make(CongestionControl.RENO, initial_window=16, window=8).cwnd == 8.0
    assert _make(CongestionControl.RENO).ssthresh == math.inf


@pytest.mark.parametrize("cc", [CongestionControl.RENO, CongestionControl.HYBRID])
def test_slow_start_then_additive_increase_up_to_the_cap(cc: CongestionControl) -> None:
    ctl = _make(cc, initial_window=4, window=10)
    for i in range(4):
        ctl.on_ack(sent_time=0.001 * i)
    assert ctl.cwnd == 8.0  # one packet per ack in slow start
    ctl.ssthresh = 8.0
    ctl.on_ack(0.01)
    assert ctl.cwnd == pytest.approx(8.125)  # one packet per window above ssthresh
    for _ in range(100):
        ctl.on_ack(0.02)
    assert ctl.cwnd == 10.0  # never above config.window


def test_reno_halves_once_per_loss_event() -> None:
    ctl = _make(CongestionControl.RENO, initial_window=40, min_window=2)
    assert ctl.on_loss(sent_time=1.0, now=1.5, srtt=0.1, min_rtt=0.1) is LossVerdict.CONGESTION
    assert ctl.cwnd == ctl.ssthresh == 20.0
    # A packet sent before the reduction belongs to the same event.
    assert ctl.on_loss(sent_time=1.2, now=1.6, srtt=0.1, min_rtt=0.1) is LossVerdict.IGNORED
    assert ctl.cwnd == 20.0
    ctl.on_ack(sent_time=1.4)  # sent before recovery began: no growth
    assert ctl.cwnd == 20.0
    ctl.on_ack(sent_time=1.7)
    assert ctl.cwnd == pytest.approx(20.05)
    assert ctl.on_loss(sent_time=1.8, now=2.0, srtt=0.1, min_rtt=0.1) is LossVerdict.CONGESTION
    assert ctl.cwnd == pytest.approx(10.025)


def test_reno_never_goes_below_min_window() -> None:
    ctl = _make(CongestionControl.RENO, initial_window=3, min_window=2)
    ctl.on_loss(0.0, 0.1, None, math.inf)
    assert ctl.cwnd == 2.0


def test_reno_timeout_restarts_slow_start_from_half() -> None:
    ctl = _make(CongestionControl.RENO, initial_window=32, min_window=2)
    ctl.on_timeout(now=5.0, srtt=0.1, min_rtt=0.05)
    assert ctl.cwnd == 2.0 and ctl.ssthresh == 16.0
    ctl.on_ack(sent_time=4.9)  # sent before the timeout
    assert ctl.cwnd == 2.0
    ctl.on_ack(sent_time=5.1)
    assert ctl.cwnd == 3.0


def test_timeout_before_any_rtt_sample_keeps_ssthresh_unknown() -> None:
    for cc in (CongestionControl.RENO, CongestionControl.HYBRID):
        ctl = _make(cc, initial_window=16, min_window=2)
        ctl.on_timeout(now=0.1, srtt=None, min_rtt=math.inf)
        assert ctl.cwnd == 2.0 and ctl.ssthresh == math.inf


def test_hybrid_loss_without_a_queue_is_random_and_free() -> None:
    ctl = _make(CongestionControl.HYBRID, initial_window=64, queue_threshold=8.0)
    # srtt 1.1 x min_rtt: 64 * (1 - 1/1.1) = 5.8 packets queued, under 8.
    verdict = ctl.on_loss(sent_time=1.0, now=2.0, srtt=0.0011, min_rtt=0.001)
    assert verdict is LossVerdict.RANDOM
    assert ctl.cwnd == 64.0 and ctl.ssthresh == math.inf
    # Not a recovery: the next loss is judged again.
    assert ctl.on_loss(1.1, 2.1, 0.0011, 0.001) is LossVerdict.RANDOM


def test_hybrid_loss_with_a_queue_drops_to_what_the_path_holds() -> None:
    ctl = _make(CongestionControl.HYBRID, initial_window=100, queue_threshold=8.0)
    # srtt 1.25 x min_rtt: 20 packets queued; the path holds 100 * 0.8 = 80.
    verdict = ctl.on_loss(sent_time=1.0, now=2.0, srtt=0.00125, min_rtt=0.001)
    assert verdict is LossVerdict.CONGESTION
    assert ctl.cwnd == ctl.ssthresh == pytest.approx(88.0)  # 80 + the threshold
    assert ctl.on_loss(1.5, 2.1, 0.00125, 0.001) is LossVerdict.IGNORED


def test_hybrid_reduction_is_at_most_half() -> None:
    ctl = _make(CongestionControl.HYBRID, initial_window=100, queue_threshold=8.0)
    ctl.on_loss(sent_time=1.0, now=2.0, srtt=0.010, min_rtt=0.001)  # a deep queue
    assert ctl.cwnd == pytest.approx(50.0)


def test_hybrid_halves_like_reno_without_an_rtt() -> None:
    ctl = _make(CongestionControl.HYBRID, initial_window=30)
    assert ctl.on_loss(0.0, 0.1, None, math.inf) is LossVerdict.CONGESTION
    assert ctl.cwnd == 15.0


def test_hybrid_timeout_without_a_queue_keeps_the_old_window_as_ssthresh() -> None:
    ctl = _make(CongestionControl.HYBRID, initial_window=64, min_window=2)
    ctl.on_timeout(now=3.0, srtt=0.001, min_rtt=0.001)
    assert ctl.cwnd == 2.0 and ctl.ssthresh == 64.0
    queued = _make(CongestionControl.HYBRID, initial_window=64, min_window=2)
    queued.on_timeout(now=3.0, srtt=0.002, min_rtt=0.001)  # 32 packets queued
    assert queued.cwnd == 2.0 and queued.ssthresh == 32.0


def test_fixed_never_moves() -> None:
    ctl = _make(CongestionControl.FIXED, initial_window=256)
    for i in range(50):
        ctl.on_ack(float(i))
    assert ctl.on_loss(60.0, 61.0, 0.01, 0.001) is LossVerdict.IGNORED
    ctl.on_timeout(now=70.0, srtt=0.01, min_rtt=0.001)
    assert ctl.cwnd == 256.0 and ctl.ssthresh == math.inf
