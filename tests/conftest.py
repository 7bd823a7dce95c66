import os
import subprocess
from collections.abc import Generator

import pytest
from hypothesis import settings

from tests.netutil import NoFreeLoopback
from tests.privatenet import enter_private_netns, why_not_private
from tests.serverutil import run_server

__all__ = ["run_server"]

# CI runs the same examples every time (a red run must be reproducible, not a
# roll of the dice) and never fails on a slow machine's timing.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

_NETWORK = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Give the run its own 127.0.0.0/8 so a server running on the host is no obstacle."""
    reason = why_not_private()
    if reason is None:
        try:
            config.stash[_NETWORK] = f"private network namespace (was {enter_private_netns()})"
            return
        except (OSError, subprocess.CalledProcessError) as exc:
            reason = f"no private namespace: {exc}"
    config.stash[_NETWORK] = f"the host's ({reason}; tests skip where 20023/20024 are taken)"


def pytest_report_header(config: pytest.Config) -> str:
    return f"network: {config.stash.get(_NETWORK, 'the host')}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, None]:
    """Outside a private namespace a port held on every 127.x address skips, not fails."""
    outcome = yield
    _convert(outcome)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, None]:
    outcome = yield
    _convert(outcome)


def _convert(outcome: object) -> None:
    exc = getattr(outcome, "exception", None)
    if isinstance(exc, NoFreeLoopback):
        outcome.force_exception(pytest.skip.Exception(str(exc), _use_item_location=True))  # type: ignore[attr-defined]
