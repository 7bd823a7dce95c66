import os

from hypothesis import settings

from tests.serverutil import run_server

__all__ = ["run_server"]

# CI runs the same examples every time (a red run must be reproducible, not a
# roll of the dice) and never fails on a slow machine's timing.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
