"""The one exception hierarchy of the project.

The seeds report failures as errno values; callers of the C code compare
against those numbers, so each errno the seeds return has a subclass carrying
it. Code catches the class, never the message text.
"""

from __future__ import annotations

import errno as _errno


class DebugnetError(Exception):
    """Root of every error debugnet raises on purpose."""

    errno: int | None = None


class WireError(DebugnetError, ValueError):
    """Bytes that do not form a valid value of a wire format.

    ``field`` names the offending field (``"ipv4.ihl"``) and ``value`` holds
    what was found, so a log line can say exactly what was wrong.
    """

    errno = _errno.EINVAL

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"{field}={value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class LocalProtocolError(DebugnetError):
    """The caller used a protocol object in a way its state does not allow."""

    errno = _errno.EINVAL


class ErrnoError(DebugnetError):
    """An error the seeds express as an errno; subclasses fix the value."""

    errno: int = _errno.EIO

    def __init__(self, message: str = "") -> None:
        super().__init__(message or _errno.errorcode.get(self.errno, str(self.errno)))


class TimedOut(ErrnoError):
    errno = _errno.ETIMEDOUT


class ConnectionReset(ErrnoError):
    errno = _errno.ECONNRESET


class NoEntry(ErrnoError):
    errno = _errno.ENOENT


class NoDevice(ErrnoError):
    """ENXIO: the device is gone or not configured (down, detached)."""

    errno = _errno.ENXIO


class NotSupportedByDevice(ErrnoError):
    """ENODEV: the device cannot do what was asked (no debugnet support)."""

    errno = _errno.ENODEV


class InvalidArgument(ErrnoError):
    errno = _errno.EINVAL


class OutOfDomain(ErrnoError):
    """EDOM: a number outside its range, such as an IPv4 octet above 255."""

    errno = _errno.EDOM


class Busy(ErrnoError):
    errno = _errno.EBUSY


class NoBuffers(ErrnoError):
    errno = _errno.ENOBUFS


class NetworkDown(ErrnoError):
    errno = _errno.ENETDOWN


class Exists(ErrnoError):
    errno = _errno.EEXIST


class NoSpace(ErrnoError):
    errno = _errno.ENOSPC


class NotSupported(ErrnoError):
    """EOPNOTSUPP: the operation is not implemented by this object."""

    errno = _errno.EOPNOTSUPP


class NotTty(ErrnoError):
    """ENOTTY: an ioctl the driver does not know."""

    errno = _errno.ENOTTY


class PermissionDenied(ErrnoError):
    errno = _errno.EPERM


_BY_ERRNO: dict[int, type[ErrnoError]] = {
    cls.errno: cls
    for cls in (
        TimedOut,
        ConnectionReset,
        NoEntry,
        NoDevice,
        NotSupportedByDevice,
        InvalidArgument,
        OutOfDomain,
        Busy,
        NoBuffers,
        NetworkDown,
        Exists,
        NoSpace,
        NotSupported,
        NotTty,
        PermissionDenied,
    )
}


def error_for_errno(code: int, message: str = "") -> ErrnoError:
    """Build the subclass for ``code``, or a plain ErrnoError carrying it."""
    cls = _BY_ERRNO.get(code)
    if cls is not None:
        return cls(message)
    err = ErrnoError(message or _errno.errorcode.get(code, str(code)))
    err.errno = code
    return err


class FormatError(DebugnetError, ValueError):
    """A file that is not what it claims to be (a truncated key file, a bad minidump)."""

    errno = _errno.EINVAL


class DecryptError(DebugnetError):
    """A dump that cannot be decrypted with what was given (wrong private key, bad cipher)."""

    errno = _errno.EINVAL
