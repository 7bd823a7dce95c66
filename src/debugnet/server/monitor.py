"""What the server tells the outside: counts for metrics, dumps arriving now, dumps that ended.

The listener and the workers call a ``Monitor`` at rare moments only (a
herald, a session's start and end, a handler's exit), never per datagram.
It keeps the ``Tally`` the metrics collector reads, answers ``arriving()``
for the dashboard's live view from the sessions' own figures, and hands each
ended dump to listeners (alerts), which must not block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from debugnet.server.tally import Tally
from debugnet.transport.server_session import ServerSession, SessionState
from debugnet.triage.info import parse_info

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ended:
    """One dump that ended, as its info file states it."""

    client_ip: str
    host: str
    index: int
    info_path: Path
    core_path: Path
    state: str
    """complete, incomplete or failed."""
    reason: str | None
    """As the info file says it (``holes: 4000 bytes missing at ...``), None when complete."""
    seconds: float
    bytes: int
    """The vmcore's size (data bytes received counts retransmitted copies too)."""

    @property
    def reason_label(self) -> str:
        """The reason's kind alone (``holes``, ``timed_out``), for a bounded metric label."""
        if not self.reason:
            return "none"
        return self.reason.split(":", 1)[0].strip().replace(" ", "_").lower()


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A dump being received, read from its session (seconds are on the monotonic clock)."""

    host: str
    ip: str
    bytes: int
    length: int | None
    elapsed: float
    idle: float


@dataclass(slots=True)
class _Live:
    host: str
    ip: str
    session: ServerSession
    length: Callable[[], int | None]


def read_outcome(info_path: Path) -> tuple[str, str | None]:
    """(state, reason) from the info file's closing line, as the catalogue reads it."""
    try:
        info = parse_info(info_path.read_bytes())
    except OSError as exc:
        log.warning("%s: cannot read the info file: %s", info_path, exc)
        return "failed", "info file unreadable"
    return info.outcome.state.value, info.outcome.reason


class Monitor:
    """The server's outward view; see the module docstring."""

    def __init__(self, tally: Tally | None = None) -> None:
        self.tally = tally or Tally()
        self.tally.active = self.receiving
        self._lock = threading.Lock()
        self._live: dict[int, _Live] = {}
        self._listeners: list[Callable[[Ended], None]] = []

    def on_ended(self, listener: Callable[[Ended], None]) -> None:
        """Call ``listener`` for every dump that ends (from the worker's thread: be quick)."""
        self._listeners.append(listener)

    # -- from the listener and the workers ------------------------------------

    def herald(self, outcome: str) -> None:
        self.tally.herald(outcome)

    def herald_refused(self, reason: str) -> None:
        self.tally.herald_refused(reason)

    def session_started(
        self, host: str, ip: str, session: ServerSession, length: Callable[[], int | None]
    ) -> None:
        self.tally.herald("accepted")
        self.tally.session_started(session.stats)
        with self._lock:
            self._live[id(session)] = _Live(host, ip, session, length)

    def session_finished(self, session: ServerSession) -> None:
        """The worker is done with the session (after any linger): fold its figures."""
        with self._lock:
            self._live.pop(id(session), None)
        self.tally.session_ended(session.stats)

    def dump_ended(
        self,
        *,
        client_ip: str,
        host: str,
        index: int,
        info_path: Path,
        core_path: Path,
        seconds: float,
        size: int,
    ) -> None:
        state, reason = read_outcome(info_path)
        try:
            size = core_path.stat().st_size  # what was kept, not what arrived (retransmits)
        except OSError:
            pass
        ended = Ended(client_ip, host, index, info_path, core_path, state, reason, seconds, size)
        self.tally.dump_finished(state, ended.reason_label, seconds, size)
        for listener in self._listeners:
            try:
                listener(ended)
            except Exception:
                log.exception("dump-ended listener failed for %s", info_path)

    def handler_ran(self, status: str) -> None:
        self.tally.handler_ran(status)

    # -- for the dashboard and the metrics --------------------------------------

    def receiving(self) -> int:
        """Dumps being received now (sessions lingering after their end not counted)."""
        with self._lock:
            return sum(1 for i in self._live.values() if i.session.state is SessionState.OPEN)

    def arriving(self) -> list[SessionStatus]:
        """Dumps still being received, with their progress (read, never locked against)."""
        now = time.monotonic()
        with self._lock:
            live = list(self._live.values())
        out = []
        for item in live:
            session = item.session
            if session.state is not SessionState.OPEN:
                continue
            out.append(
                SessionStatus(
                    host=item.host,
                    ip=item.ip,
                    bytes=session.stats.data_bytes,
                    length=item.length(),
                    elapsed=now - session.started,
                    idle=now - session.last_heard,
                )
            )
        return out
