"""Link state, its change queue, and the listeners told about interfaces.

A driver reports link changes from wherever it notices them; if.c does not act
on them there but queues them and lets a soft interrupt deliver them later.
Here the soft interrupt is an explicit step the caller runs, so a test can look
at every state an interface passes through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from debugnet.ifnet.interface import Ifnet

log = logging.getLogger(__name__)

LINK_QUEUE_MAX = 16
"""Changes the queue holds: 2-bit items packed in an int in if.c."""


class LinkState(IntEnum):
    UNKNOWN = 0
    DOWN = 1
    UP = 2


class IfEvent(IntEnum):
    """What a listener is told about (the domain hooks and routing messages)."""

    ATTACH = 1
    DETACH = 2
    UP = 3
    DOWN = 4
    LINK_STATE = 5
    MTU = 6
    LLADDR = 7


@dataclass(frozen=True, slots=True, eq=False)
class IfNotice:
    """One notification; ``link_state`` is set for LINK_STATE only."""

    event: IfEvent
    ifp: Ifnet
    link_state: LinkState | None = None


Listener = Callable[[IfNotice], None]


class Listeners:
    """Callables told about every interface event, in registration order."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def emit(self, notice: IfNotice) -> None:
        for listener in tuple(self._listeners):
            listener(notice)


class LinkStateQueue:
    """The pending link changes of one interface, as if.c's packed queue.

    A change equal to the last queued one is dropped (nothing would change).
    When the queue is full the oldest change is pushed off, except that a DOWN
    at the head is kept: losing it could leave listeners believing a dead link
    is up.
    """

    __slots__ = ("_items", "lost")

    def __init__(self) -> None:
        self._items: list[LinkState] = []
        self.lost = 0

    def __len__(self) -> int:
        return len(self._items)

    def pending(self) -> tuple[LinkState, ...]:
        return tuple(self._items)

    def push(self, state: LinkState, ifname: str = "?") -> bool:
        """Queue ``state``; False when it repeats the last queued change."""
        items = self._items
        if items and items[-1] == state:
            return False
        if len(items) < LINK_QUEUE_MAX:
            items.append(state)
            return True
        lost = items.pop(0)
        items.append(state)
        if lost == LinkState.DOWN:
            lost = items[0]
            items[0] = LinkState.DOWN
        self.lost += 1
        log.warning("%s: lost link state change %s", ifname, lost.name)
        return True

    def pop(self) -> LinkState | None:
        return self._items.pop(0) if self._items else None

    def clear(self) -> None:
        self._items.clear()


def apply_link_state(ifp: Ifnet, state: LinkState, emit: Callable[[IfNotice], None]) -> bool:
    """Make ``state`` current and tell the listeners; False if nothing changed.

    Going from UNKNOWN straight to UP first reports a DOWN: addresses
    configured while the link was unknown may have skipped duplicate
    detection, and listeners redo it on the DOWN→UP edge.
    """
    if ifp.link_state == state:
        return False
    if state == LinkState.UP and ifp.link_state == LinkState.UNKNOWN:
        emit(IfNotice(IfEvent.LINK_STATE, ifp, LinkState.DOWN))
    log.debug("%s: link state %s (was %s)", ifp.name, state.name, ifp.link_state.name)
    ifp.link_state = state
    emit(IfNotice(IfEvent.LINK_STATE, ifp, state))
    return True
