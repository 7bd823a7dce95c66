import errno

import pytest

from debugnet import errors
from debugnet.errors import DebugnetError, WireError, error_for_errno

ERRNO_CLASSES = {
    errno.ETIMEDOUT: errors.TimedOut,
    errno.ECONNRESET: errors.ConnectionReset,
    errno.ENOENT: errors.NoEntry,
    errno.ENXIO: errors.NoDevice,
    errno.ENODEV: errors.NotSupportedByDevice,
    errno.EINVAL: errors.InvalidArgument,
    errno.EDOM: errors.OutOfDomain,
    errno.EBUSY: errors.Busy,
    errno.ENOBUFS: errors.NoBuffers,
    errno.ENETDOWN: errors.NetworkDown,
}


@pytest.mark.parametrize(("code", "cls"), sorted(ERRNO_CLASSES.items()))
def test_each_seed_errno_has_a_class_carrying_it(code: int, cls: type) -> None:
    exc = error_for_errno(code, "why")
    assert type(exc) is cls
    assert exc.errno == code
    assert isinstance(exc, DebugnetError)
    assert str(exc) == "why"


def test_unknown_errno_still_carries_its_value() -> None:
    exc = error_for_errno(errno.EPIPE)
    assert exc.errno == errno.EPIPE
    assert isinstance(exc, DebugnetError)


def test_wire_error_names_field_and_value() -> None:
    exc = WireError("ipv4.ihl", 6, "options not supported")
    assert isinstance(exc, ValueError)
    assert isinstance(exc, DebugnetError)
    assert "ipv4.ihl" in str(exc) and "6" in str(exc)
    assert (exc.field, exc.value) == ("ipv4.ihl", 6)
