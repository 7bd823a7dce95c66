"""``with`` for the raw path's objects: leaving the block closes them (and entering opens).

A diversion, the raw shell over it, the raw path that owns both and the UDP
shell each hold a resource (an input hook, a socket) that must go back when a
dump ends however it ends; one base says so once.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """``with obj:`` gives ``obj`` and calls ``obj.close()`` on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Opening(Closing):
    """Like ``Closing``, and ``obj.open()`` is called on the way in."""

    def open(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self
