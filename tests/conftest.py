from tests.serverutil import run_server

__all__ = ["run_server"]
