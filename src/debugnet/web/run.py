"""Serving the dashboard with uvicorn: in the foreground (``debugnet web``) or on a thread
beside the dump server (``debugnet serve --web``)."""

from __future__ import annotations

import logging
import socket
import threading
import time

from starlette.applications import Starlette

from debugnet.errors import error_for_errno

log = logging.getLogger(__name__)


def _bind(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so a taken port is a one-line error here, not a log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"tcp {host}:{port}"
        raise error_for_errno(exc.errno or 0, f"cannot listen on {where}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class WebServer:
    """One uvicorn server for one app on an already bound socket."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        import uvicorn

        self.sock = _bind(host, port)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def serve(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM (uvicorn handles them)."""
        self.server.run(sockets=[self.sock])

    def start(self) -> None:
        """Serve on a daemon thread; returns once the server accepts connections.

        uvicorn installs signal handlers only on the main thread, so on this
        one it leaves SIGINT/SIGTERM to the dump server.
        """
        self._thread = threading.Thread(target=self.serve, name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30.0
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()
