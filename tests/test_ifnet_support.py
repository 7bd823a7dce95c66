"""Shared fakes for the ifnet tests: a recording driver and a table with listeners."""

from __future__ import annotations

from dataclasses import dataclass, field

from debugnet.errors import DebugnetError
from debugnet.ifnet import IfFlags, Ifnet, IfNotice, IfOps, IfTable, IfType
from debugnet.ifnet.ioctl import set_flags
from debugnet.ifnet.ops import accept_ioctl

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


@dataclass
class FakeDriver:
    """Records every call; ``fail`` maps an ioctl command to the error to raise."""

    sent: list[bytes] = field(default_factory=list)
    ioctls: list[tuple[int, object]] = field(default_factory=list)
    inits: int = 0
    stops: int = 0
    watchdogs: int = 0
    fail: dict[int, DebugnetError] = field(default_factory=dict)
    fail_init: DebugnetError | None = None

    def ops(self) -> IfOps:
        return IfOps(
            output=lambda ifp, frame: self.sent.append(frame),
            ioctl=self._ioctl,
            init=self._init,
            stop=self._stop,
            watchdog=self._watchdog,
        )

    def _ioctl(self, ifp: Ifnet, cmd: int, arg: object) -> None:
        self.ioctls.append((cmd, arg))
        if cmd in self.fail:
            raise self.fail[cmd]
        accept_ioctl(ifp, cmd, arg)

    def _init(self, ifp: Ifnet) -> None:
        self.inits += 1
        if self.fail_init is not None:
            raise self.fail_init

    def _stop(self, ifp: Ifnet, disable: bool) -> None:
        self.stops += 1

    def _watchdog(self, ifp: Ifnet) -> None:
        self.watchdogs += 1


def make_ether(
    name: str = "em0", driver: FakeDriver | None = None, mac: bytes = MAC_A, **kw: object
) -> tuple[Ifnet, FakeDriver]:
    driver = driver or FakeDriver()
    ifp = Ifnet(
        name,
        driver.ops(),
        if_type=IfType.ETHER,
        lladdr=mac,
        flags=IfFlags.BROADCAST | IfFlags.MULTICAST,
        max_mtu=9000,
        **kw,  # type: ignore[arg-type]
    )
    return ifp, driver


def recorder(table: IfTable) -> list[IfNotice]:
    seen: list[IfNotice] = []
    table.listeners.add(seen.append)
    return seen


def up(ifp: Ifnet, now: float = 0.0) -> Ifnet:
    set_flags(ifp, ifp.flags | IfFlags.UP, now)
    return ifp
