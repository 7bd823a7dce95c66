"""Interface cloners: drivers that create interfaces on request (if_clone_*).

The registry knows its table only as something that finds interfaces by
name; cloners receive that table back, so this module needs no import of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from debugnet.errors import Exists, InvalidArgument, NoDevice, NotSupported
from debugnet.ifnet.interface import Ifnet
from debugnet.ifnet.ops import NULL_OPS

IFNAMSIZ = 16
_UNIT_LIMIT = (2**31 - 1) // 10


class InterfaceNames(Protocol):
    """What the registry needs of its table: ifunit."""

    def unit(self, name: str) -> Ifnet | None: ...


T = TypeVar("T", bound=InterfaceNames)


@dataclass(frozen=True, slots=True)
class IfCloner(Generic[T]):
    """``create(table, unit)`` makes and attaches ``<name><unit>``;
    ``destroy(table, ifp)`` detaches it (None: cannot be destroyed)."""

    name: str
    create: Callable[[T, int], Ifnet]
    destroy: Callable[[T, Ifnet], None] | None = None


def split_name(name: str) -> tuple[str, int]:
    """``"tap12"`` → ``("tap", 12)``; EINVAL as if_clone_lookup refuses.

    A driver part, then only digits: no driver part, no unit, anything after
    the digits, an over-long name or a unit of INT_MAX/10 or more is refused.
    """
    if len(name) >= IFNAMSIZ:
        raise InvalidArgument(f"interface name {name!r} too long")
    i = 0
    while i < len(name) and name[i] not in "0123456789":
        i += 1
    if i == 0 or i == len(name):
        raise InvalidArgument(f"{name!r}: no driver name or no unit number")
    unit = 0
    for ch in name[i:]:
        if ch not in "0123456789" or unit >= _UNIT_LIMIT:
            raise InvalidArgument(f"{name!r}: bad unit number")
        unit = unit * 10 + ord(ch) - 48
    return name[:i], unit


class ClonerRegistry(Generic[T]):
    """The cloners known to one table; newest first, as if.c's list."""

    def __init__(self, table: T) -> None:
        self._table = table
        self._cloners: list[IfCloner[T]] = []

    def attach(self, cloner: IfCloner[T]) -> None:
        if any(c.name == cloner.name for c in self._cloners):
            raise Exists(f"cloner {cloner.name!r} already registered")
        self._cloners.insert(0, cloner)

    def detach(self, cloner: IfCloner[T]) -> None:
        self._cloners.remove(cloner)

    def list(self) -> list[str]:
        return [c.name for c in self._cloners]

    def lookup(self, name: str) -> tuple[IfCloner[T], int]:
        """The cloner for ``name`` and the unit it names; EINVAL if none."""
        driver, unit = split_name(name)
        for cloner in self._cloners:
            if cloner.name == driver:
                return cloner, unit
        raise InvalidArgument(f"{name!r}: no cloner for {driver!r}")

    def create(self, name: str) -> Ifnet:
        """SIOCIFCREATE: EINVAL (no cloner/bad name), EEXIST (name in use)."""
        cloner, unit = self.lookup(name)
        if self._table.unit(name) is not None:
            raise Exists(f"{name}: interface exists")
        return cloner.create(self._table, unit)

    def destroy(self, name: str) -> None:
        """SIOCIFDESTROY: EINVAL (no cloner), EOPNOTSUPP (not destroyable), ENXIO (no such)."""
        cloner, _unit = self.lookup(name)
        if cloner.destroy is None:
            raise NotSupported(f"{name}: cloner {cloner.name!r} cannot destroy")
        ifp = self._table.unit(name)
        if ifp is None:
            raise NoDevice(f"{name}: no such interface")
        ifp.ops = replace(ifp.ops, ioctl=NULL_OPS.ioctl)
        cloner.destroy(self._table, ifp)
