"""Taking an interface's input path for the stack, and giving it back.

debugnet_connect (seed 000:709-735) checks that the driver supports debugnet
(ENODEV) and that the interface is up (ENXIO), sends the driver its START
event and points ``if_input`` at its own handler; debugnet_free (000:603-609)
restores the handler and sends END. Here that is a context manager, so every
exit path restores both. An interface whose input is already diverted gets
EBUSY, as does a second ``open`` of the same diversion.
"""

from __future__ import annotations

import logging
from types import TracebackType

from debugnet.errors import Busy, NoDevice, NotSupportedByDevice
from debugnet.ifnet import DebugnetEvent, IfFlags, Ifnet, debugnet_event, supports_debugnet
from debugnet.ifnet.interface import InputHook

log = logging.getLogger(__name__)


class Diversion:
    """``ifp``'s input goes to ``hook`` between ``open`` and ``close``."""

    def __init__(self, ifp: Ifnet, hook: InputHook) -> None:
        self.ifp = ifp
        self.hook = hook
        self.active = False
        self._started = False

    def open(self) -> None:
        ifp = self.ifp
        if self.active:
            raise Busy("only one connection at a time")
        if ifp.deactivated or not supports_debugnet(ifp):
            raise NotSupportedByDevice(f"interface '{ifp.name}' does not support debugnet")
        if not ifp.flags & IfFlags.UP:
            raise NoDevice(f"interface '{ifp.name}' link is down")
        if ifp.input_hook is not None:
            raise Busy(f"{ifp.name}: input already diverted (another debugnet user)")
        debugnet_event(ifp, DebugnetEvent.START)
        self._started = True
        ifp.input_hook = self.hook
        self.active = True
        log.debug("%s: input diverted to the debugnet stack", ifp.name)

    def close(self) -> None:
        """Restore the input path and send END; safe to call twice."""
        ifp = self.ifp
        if self.active and ifp.input_hook is self.hook:
            ifp.input_hook = None
        self.active = False
        if self._started:
            self._started = False
            if not ifp.deactivated and supports_debugnet(ifp):
                debugnet_event(ifp, DebugnetEvent.END)

    def __enter__(self) -> Diversion:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
