"""One dump session on its own socket and thread: the socket loop around a DumpRecorder.

A thread per session keeps a slow disk, a slow handler or a slow reverse DNS
for one client from ever stalling another, and lets the hot loop be a blocking
receive on a connected socket: one syscall in, one out, per batch. What the
dump's files say is the recorder's business (server/recorder.py); where they
go is the store's (storage/interface.py). The worker only moves datagrams, keeps
time and sleeps until the session's next deadline.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from debugnet.server.admission import Refusal
from debugnet.server.context import SessionContext
from debugnet.server.endings import Ending
from debugnet.server.progress import ProgressLog, end_line
from debugnet.server.recorder import DumpRecorder
from debugnet.server.sessionio import open_session_socket, send_all, session_io, set_receive_timeout
from debugnet.storage.interface import BelowFloor, DumpLimitReached, DumpRequest
from debugnet.storage.limits import DumpLimits
from debugnet.transport.server_session import Herald, ServerSession, SessionConfig, SessionState

log = logging.getLogger(__name__)

# Seconds after our herald ack in which a herald that arrives after data is
# taken for a retransmission that crossed the ack, not for a client starting over.
HERALD_CROSSING = 1.0

_OVER = (SessionState.DONE, SessionState.TIMED_OUT, SessionState.FAILED)
_EXACT = 0.05
"""Below this many seconds to the next deadline, the receive timeout is set to it exactly."""
IDLE_RELEASE = 1.0
"""Seconds without data after which a session gives its receive slots' memory back."""
_MIN_WAIT = 0.001
"""The shortest receive timeout (SO_RCVTIMEO 0 would mean forever)."""


DoneCallback = Callable[["SessionWorker", Ending | None], None]
"""Called once from the worker's thread as it ends, with the ending (None: no dump)."""


class SessionWorker:
    """Owns one ServerSession, its socket and its recorder."""

    def __init__(
        self,
        context: SessionContext,
        herald: Herald,
        client_ip: str,
        local_ip: str,
        on_done: DoneCallback,
    ) -> None:
        self.context = context
        self.config = context.config
        self.herald = herald
        self.client_ip = client_ip
        self.local_ip = local_ip
        self.on_done = on_done
        self.lock = threading.Lock()
        self._sock_lock = threading.Lock()
        self.session: ServerSession | None = None
        self.recorder: DumpRecorder | None = None
        self.end_requested = False
        self.created = time.monotonic()
        self.refused: tuple[Refusal, str] | None = None
        """Why the herald could not be answered after all (the worker ran out of resources)."""
        self.end_ending = Ending.TIMED_OUT
        self.acked_at: float | None = None
        """Wall-clock time just before the herald's first ack was sent."""
        self.sock: socket.socket | None = None
        self._closers: list[Callable[[], None]] = []
        self.batches = 0
        self.releases = 0
        """Times the receive slots' memory was given back (the session went quiet)."""
        self._armed = -1.0
        self.thread = threading.Thread(target=self._main, name=f"dump-{client_ip}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- called from other threads -------------------------------------------

    def herald_again(self, herald: Herald, now: float, arrived: float | None = None) -> bool:
        """False when the client has started over after sending data.

        ``arrived`` is when the kernel received the herald (wall clock): one
        that came in before our first ack went out was sent before the client
        could have started this session, let alone started over. It is a
        retransmission the listener was late to read, whatever data came since.
        """
        acked_at = self.acked_at
        if arrived is not None and acked_at is not None and arrived < acked_at:
            return True
        # A retransmission the client sent just before our ack reached it crosses
        # that ack and arrives after it; a client that really starts over has
        # sent data in between, which takes it longer than this. A kernel that
        # did restart heralds again for seconds, so it is heard a moment later.
        crossing = (
            arrived is not None and acked_at is not None and arrived < acked_at + HERALD_CROSSING
        )
        if not self.lock.acquire(timeout=0.05):
            return True  # busy syncing; the client will send its herald again
        try:
            session = self.session
            if session is None:
                return True  # still setting up; the first herald's ack is on its way
            if not session.receive_herald(herald, now):
                # ignored, not acked, when it crossed our ack of a dump still arriving
                return crossing and session.state is SessionState.OPEN
            self._send(session.datagrams_to_send(now))
            return True
        finally:
            self.lock.release()

    def herald_only_silence(self, now: float) -> float | None:
        """Seconds silent, if this session is still herald-only and not ending; else None."""
        if self.end_requested:
            return None
        session, recorder = self.session, self.recorder
        if session is None:
            return now - self.created  # still resolving its name or opening its socket
        if recorder is None or recorder.sink is not None or session.state is not SessionState.OPEN:
            return None
        return now - session.last_heard

    def dump_open(self) -> bool:
        """Whether the dump is still receiving (not finished, failed or timed out)."""
        session = self.session
        return session is not None and session.state is SessionState.OPEN

    def request_end(self, ending: Ending = Ending.TIMED_OUT) -> None:
        """End the dump now, as ``ending`` (a restart: timed out; shutdown: server stopped).

        Wakes the blocked receive.
        """
        self.end_ending = ending
        self.end_requested = True
        with self._sock_lock:  # never a shutdown of a closed (perhaps reused) descriptor
            if self.sock is not None and self.sock.fileno() >= 0:
                try:
                    self.sock.shutdown(socket.SHUT_RD)  # this recv and every later one return
                except OSError as exc:
                    log.debug("%s: shutdown: %s", self.client_ip, exc)

    # -- the thread ----------------------------------------------------------

    def _main(self) -> None:
        ending: Ending | None = None
        try:
            if self._setup():
                ending = self._loop()
        except Exception:
            log.exception("%s: session failed unexpectedly", self.client_ip)
            if self.recorder is not None and (aborted := self.recorder.abort()) is not None:
                ending = self._ended(aborted, time.monotonic())
        finally:
            for close in self._closers:
                close()
            with self._sock_lock:
                if self.sock is not None:
                    self.sock.close()
            if self.recorder is not None:
                ending = ending or self.recorder.ending
                self.recorder.close()
                self.context.monitor.session_finished(self.recorder.session)
            self.on_done(self, ending)

    def _setup(self) -> bool:
        cfg = self.config
        host = self.context.resolver.hostname(self.client_ip)
        try:
            sock = open_session_socket(self.config, self.local_ip, self.client_ip)
        except OSError as exc:  # out of descriptors or buffers: the listener counts and logs it
            self.refused = (Refusal.NO_RESOURCES, f"no session socket on {self.local_ip}: {exc}")
            return False
        request = DumpRequest(self.client_ip, host, self.herald.path)
        try:
            self.context.store.check(request)
        except BelowFloor as exc:
            self.refused = (Refusal.DISK_FLOOR, str(exc))
        except DumpLimitReached as exc:
            self.refused = (Refusal.NO_INDEX, str(exc))
        except OSError as exc:
            self.refused = (Refusal.NO_RESOURCES, f"cannot open the dump directory: {exc}")
        if self.refused is not None:
            sock.close()
            return False
        with self._sock_lock:
            self.sock = sock
        now = time.monotonic()
        session = ServerSession(
            self.herald, now, SessionConfig(cfg.timeout, cfg.linger), label=self.client_ip
        )
        limits = DumpLimits(max_dump_size=cfg.max_dump_size)
        recorder = DumpRecorder(session, self.context.store, request, limits)
        self.recorder = recorder  # the dump itself is created by its first KDH, key or data
        self.context.monitor.session_started(host, self.client_ip, session, self._kdh_length)
        with self.lock:
            self.session = session
            self.acked_at = time.time()
            self._send(session.datagrams_to_send(now))
        return True

    def _loop(self) -> Ending | None:
        """Receive, record, ack; sleep no longer than the next deadline. The ending at the end."""
        session, recorder, lock = self.session, self.recorder, self.lock
        assert session is not None and recorder is not None
        assert self.sock is not None
        receive, transmit, release = session_io(
            self.sock, self.config, lambda: self.end_requested, self._closers, self.client_ip
        )
        receive_datagrams, next_event, handle = (
            session.receive_datagrams,
            session.next_event,
            recorder.handle,
        )
        monotonic = time.monotonic
        now = monotonic()
        self._progress = ProgressLog(now, self.config.progress_interval)
        self._progress_at = now + self.config.progress_interval
        wake = self._arm(now)
        ending: Ending | None = None
        released_at = 0  # batches received when the receive slots were last given back
        while True:
            try:
                views: list[memoryview] | None = receive()
            except (BlockingIOError, TimeoutError):
                views = None
            except ConnectionRefusedError:
                continue  # an ICMP error for an earlier ack; the client is not listening yet
            now = monotonic()
            if views:
                self.batches += 1
                state = session.state
                with lock:
                    receive_datagrams(views, now)
                    while (ev := next_event()) is not None:
                        ended = handle(ev, now)
                        if ended is not None:
                            ending = self._ended(ended, now)
                        if session.state is SessionState.FAILED:
                            return ending
                    acks = session.datagrams_to_send(now)
                    if acks:
                        transmit(acks)
                if session.state is not state:
                    wake = self._arm(now)  # FINISHED: the linger deadline replaces the timeout
                elif now + self._armed > wake:
                    wake = self._arm(now)  # a receive starting now would wake too late
            if views is None or now >= wake or self.end_requested:
                if self.batches != released_at and now - session.last_heard >= IDLE_RELEASE:
                    release()  # quiet after a burst: an idle session keeps a few hundred KiB
                    released_at = self.batches
                    self.releases += 1
                ending = self._look(now) or ending
                if session.state in _OVER:
                    return ending
                wake = self._arm(now)

    def _arm(self, now: float) -> float:
        """Set the receive timeout from the next deadline; return that deadline.

        Far deadlines are armed at half the distance, so the timeout is set
        again only a few times per deadline instead of once per batch while
        data flows; an early wake just looks and arms again.
        """
        session = self.session
        assert session is not None and self.sock is not None
        deadline = session.next_deadline()
        wake = now + 3600.0 if deadline is None else deadline
        if session.state is SessionState.OPEN:
            wake = min(wake, self._progress_at)
        left = wake - now
        wait = max(left if left <= _EXACT else left / 2, _MIN_WAIT)
        set_receive_timeout(self.sock, wait)
        self._armed = wait
        return wake

    def _look(self, now: float) -> Ending | None:
        """Timers, requests from other threads, progress; the ending if the dump ended."""
        session, recorder = self.session, self.recorder
        assert session is not None and recorder is not None
        ending: Ending | None = None
        with self.lock:
            if self.end_requested:
                recorder.stop_ending = self.end_ending
                session.time_out(now)
            session.handle_timer(now)
            while (ev := session.next_event()) is not None:
                ended = recorder.handle(ev, now)
                if ended is not None:
                    ending = self._ended(ended, now)
        if now >= self._progress_at and session.state is SessionState.OPEN:
            self._log_progress(now)
        return ending

    def _log_progress(self, now: float) -> None:
        assert self.session is not None
        line = self._progress.update(self.session.stats.data_bytes, now)
        if line is not None:
            log.info("%s: %s", self.client_ip, line)
        self._progress_at = now + self.config.progress_interval

    def _ended(self, ending: Ending, now: float) -> Ending:
        """Log the end and run the handler, as soon as the dump has ended (not after the linger)."""
        session, recorder = self.session, self.recorder
        assert session is not None and recorder is not None and recorder.sink is not None
        stats = session.stats
        elapsed = now - session.started
        sink = recorder.sink
        try:
            size: int | None = os.stat(sink.core_path).st_size
        except OSError:
            size = None
        panic = recorder.kdh.panicstring if recorder.kdh is not None else None
        line = end_line(ending.handler, recorder.verdict, size, elapsed, panic, str(sink.core_path))
        log.info("%s: %s", self.client_ip, line)
        log.debug(
            "%s: %d data bytes in %d packets, %d batches",
            self.client_ip,
            stats.data_bytes,
            stats.packets,
            self.batches,
        )
        self.context.handlers.run(
            ending.handler, self.client_ip, recorder.request.host, sink.info_path, sink.core_path
        )
        self.context.monitor.dump_ended(
            client_ip=self.client_ip,
            host=recorder.request.host,
            index=sink.index,
            info_path=sink.info_path,
            core_path=sink.core_path,
            seconds=elapsed,
            size=stats.data_bytes,
        )
        return ending

    def _kdh_length(self) -> int | None:
        """The KDH's dump length once it arrived (for the dashboard's progress)."""
        recorder = self.recorder
        kdh = recorder.kdh if recorder is not None else None
        return kdh.dumplength if kdh is not None else None

    def _send(self, datagrams: list[bytes]) -> None:
        if self.sock is not None:
            send_all(self.sock, datagrams, self.client_ip)
