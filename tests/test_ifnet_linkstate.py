import itertools
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debugnet.ifnet import IfEvent, IfTable, LinkState
from debugnet.ifnet.linkstate import LINK_QUEUE_MAX, LinkStateQueue
from tests.test_ifnet_support import make_ether, recorder

UP, DOWN, UNKNOWN = LinkState.UP, LinkState.DOWN, LinkState.UNKNOWN


def _link_events(seen: list) -> list[LinkState]:  # type: ignore[type-arg]
    return [n.link_state for n in seen if n.event == IfEvent.LINK_STATE]


def test_changes_are_queued_until_the_caller_steps() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp = table.attach(make_ether()[0])
    ifp.link_state_change(DOWN)
    ifp.link_state_change(UP)
    assert ifp.link_state == UNKNOWN and _link_events(seen) == []
    assert table.link_state_step(ifp) == DOWN
    assert ifp.link_state == DOWN and _link_events(seen) == [DOWN]
    assert table.link_state_step(ifp) == UP
    assert ifp.link_state == UP and _link_events(seen) == [DOWN, UP]
    assert table.link_state_step(ifp) is None


def test_repeat_of_the_last_queued_state_is_coalesced() -> None:
    q = LinkStateQueue()
    assert q.push(UP) and not q.push(UP)
    assert q.push(DOWN) and q.push(UP)
    assert q.pending() == (UP, DOWN, UP)


def test_unknown_to_up_reports_a_down_first() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp = table.attach(make_ether()[0])
    ifp.link_state_change(UP)
    table.drain_link_states()
    assert _link_events(seen) == [DOWN, UP]
    # DOWN -> UP later is reported once.
    ifp.link_state_change(DOWN)
    ifp.link_state_change(UP)
    table.drain_link_states()
    assert _link_events(seen) == [DOWN, UP, DOWN, UP]


def test_a_change_to_the_current_state_is_not_reported() -> None:
    table = IfTable()
    seen = recorder(table)
    ifp = table.attach(make_ether()[0])
    ifp.link_state_change(UNKNOWN)
    assert table.drain_link_states() == 1
    assert _link_events(seen) == []


def test_invalid_state_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    ifp = make_ether()[0]
    with caplog.at_level(logging.WARNING):
        assert ifp.link_state_change(7) is False
    assert len(ifp.link_queue) == 0
    assert "invalid link state" in caplog.text


def test_overflow_pushes_off_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    q = LinkStateQueue()
    states = [UP if i % 2 else UNKNOWN for i in range(LINK_QUEUE_MAX)]
    for s in states:
        q.push(s)
    assert len(q) == LINK_QUEUE_MAX
    q.push(DOWN)
    assert len(q) == LINK_QUEUE_MAX
    assert q.pending() == (*states[1:], DOWN)
    assert q.lost == 1 and "lost link state change UNKNOWN" in caplog.text


def test_overflow_never_loses_a_down_at_the_head() -> None:
    q = LinkStateQueue()
    states = [DOWN if i % 2 == 0 else UP for i in range(LINK_QUEUE_MAX)]
    for s in states:
        q.push(s)
    q.push(UNKNOWN)
    # The head DOWN stays; the UP behind it is the change lost instead.
    assert q.pending() == (DOWN, *states[2:], UNKNOWN)


@given(st.lists(st.sampled_from(list(LinkState)), max_size=60))
def test_queue_invariants(pushes: list[LinkState]) -> None:
    q = LinkStateQueue()
    for s in pushes:
        q.push(s)
        items = q.pending()
        assert len(items) <= LINK_QUEUE_MAX
        # Only a DOWN kept at the head on overflow may repeat its successor.
        assert all(a != b for a, b in itertools.pairwise(items[1:]))
        assert len(items) < 2 or items[0] != items[1] or items[0] == DOWN
        assert items[-1] == s
    if DOWN in pushes and len(pushes) > LINK_QUEUE_MAX:
        # if a DOWN was ever queued, one is still there (at the head, at worst)
        assert DOWN in q.pending()
