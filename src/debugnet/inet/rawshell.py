"""Runs a sans-I/O client over the stack's own Ethernet/ARP/IPv4/UDP: the raw path.

The counterpart of ``UdpShell`` for a host whose network stack cannot be
used (a rescue shell, a kdump capture kernel, an interface with no address):
the same drivers (a ``ClientConnection``, a ``NetdumpClient``) run unchanged,
and this shell owns the poll loop. On ``open`` the interface's input is
diverted to the stack (START event); ``run`` resolves the next hop by ARP,
then moves datagrams between the driver and the interface, answering ARP
requests for our address as they come; ``close`` (on every exit path)
restores the input and sends END.

Time comes from ``clock`` and waiting from ``wait`` so the same shell runs
over a packet socket in real time and over the in-memory wire in virtual time.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable
from types import TracebackType

from debugnet.errors import ErrnoError
from debugnet.ifnet import Ifnet, debugnet_poll
from debugnet.ifnet.rxinfo import RxInfo
from debugnet.inet.divert import Diversion
from debugnet.inet.output import ether_output, ether_output_many
from debugnet.inet.stack import InetStack, StackState
from debugnet.inet.udpsocket import Driver

log = logging.getLogger(__name__)

POLL_BATCH = 1000
"""Frames one poll may hand in (the seed's dn_poll(ifp, 1000))."""


class RawShell:
    """One stack on one debugnet interface; ``run`` drives a client core over it."""

    def __init__(
        self,
        ifp: Ifnet,
        stack: InetStack,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], None] | None = None,
    ) -> None:
        self.ifp = ifp
        self.stack = stack
        self.clock = clock
        self._wait = wait if wait is not None else self._select
        self._diversion = Diversion(ifp, self._input)
        self._driver: Driver | None = None
        self._received = 0

    @property
    def mtu(self) -> int:
        """The transport's MTU is the interface's (000:259-260)."""
        return self.ifp.mtu

    # -- lifetime ----------------------------------------------------------------------

    def open(self) -> None:
        self._diversion.open()

    def close(self) -> None:
        self._driver = None
        self._diversion.close()

    def __enter__(self) -> RawShell:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- ARP -----------------------------------------------------------------------------

    def resolve(self) -> bytes:
        """Find the next hop's MAC (ETIMEDOUT after the tunable rounds); return it."""
        stack = self.stack
        if stack.state is StackState.HAVE_GW_MAC and stack.next_hop_mac is not None:
            return stack.next_hop_mac
        if not self._diversion.active:
            self.open()
        stack.start(self.clock())
        while True:
            self._flush()
            self._poll()
            self._flush()
            if stack.state is StackState.HAVE_GW_MAC and stack.next_hop_mac is not None:
                return stack.next_hop_mac
            now = self.clock()
            deadline = stack.next_deadline()
            if deadline is not None and now >= deadline:
                stack.handle_timer(now)
                if stack.error is not None:
                    raise stack.error
                continue
            self._wait(self.stack.config.poll_interval)

    # -- the transport loop --------------------------------------------------------------

    def run(
        self,
        driver: Driver,
        *,
        progress: Callable[[], None] | None = None,
        progress_interval: float = 0.2,
    ) -> None:
        """Run until the driver is done; raise its error if it fails (as UdpShell.run)."""
        self.resolve()
        self._driver = driver
        clock = self.clock
        output_many = self.stack.output_many
        ifp = self.ifp
        next_progress = clock() + progress_interval
        try:
            while True:
                now = clock()
                deadline = driver.next_deadline()
                if deadline is not None and now >= deadline and self._poll():
                    now = clock()  # acks that waited are progress: read them before timers
                    deadline = driver.next_deadline()
                if deadline is not None and now >= deadline:
                    driver.handle_timer(now)
                out = driver.datagrams_to_send(now)
                if out:
                    lost = ether_output_many(ifp, output_many(out))
                    self.stack.stats.tx_dropped += lost
                got = self._poll()
                self._flush()
                if driver.error is not None:
                    raise driver.error
                if driver.done:
                    break
                if progress is not None and now >= next_progress:
                    progress()
                    next_progress = now + progress_interval
                if got:
                    continue
                deadline = driver.next_deadline()
                timeout = 1.0 if deadline is None else max(0.0, deadline - clock())
                if timeout > 0:
                    self._wait(min(timeout, progress_interval))
        finally:
            self._driver = None
        if progress is not None:
            progress()

    def service(self, timeout: float = 0.0) -> int:
        """Wait up to ``timeout`` for frames, take them in and answer ARP; payloads delivered.

        For a caller that keeps the interface diverted between transfers (a
        debugger session waiting for its next command).
        """
        if timeout > 0:
            self._wait(timeout)
        got = self._poll()
        self._flush()
        return got

    # -- internals -------------------------------------------------------------------------

    def _input(self, ifp: Ifnet, frame: bytes, rx: RxInfo) -> None:
        """The diverted input hook (debugnet_pkt_in)."""
        got = self.stack.input(frame, rx)
        if got is None:
            return
        self._received += 1
        driver = self._driver
        if driver is not None:
            driver.receive_datagram(got[0], self.clock(), got[1])

    def _poll(self) -> int:
        """Let the driver hand in what arrived; how many UDP payloads were delivered."""
        before = self._received
        debugnet_poll(self.ifp, POLL_BATCH)
        return self._received - before

    def _flush(self) -> None:
        """Send the stack's own frames (ARP requests and replies)."""
        for frame in self.stack.frames_to_send():
            try:
                ether_output(self.ifp, frame)
            except ErrnoError as exc:
                log.debug("%s: ARP frame not sent: %s", self.ifp.name, exc)
                raise

    def _select(self, timeout: float) -> None:
        fileno = getattr(self.ifp.softc, "fileno", None)
        fd = fileno() if callable(fileno) else -1
        if fd < 0:
            time.sleep(timeout)
            return
        select.select([fd], [], [], timeout)
