"""A userspace relay between a dump client and the server that loses, duplicates and reorders.

The server sees the relay as the client (at relay_ip:20024); the client sees
the relay as the server, with the same session port numbers mirrored on the
relay's address so the client's "port of the first ack" rule still holds.
"""

from __future__ import annotations

import random
import selectors
import socket
import threading


class Relay:
    def __init__(
        self,
        relay_ip: str,
        client_ip: str,
        server_ip: str,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        seed: int = 1,
        herald_port: int = 20023,
        client_port: int = 20024,
        spare_client_acks: bool = False,
        duplicate_client_only: bool = False,
    ) -> None:
        self.relay_ip, self.client_ip, self.server_ip = relay_ip, client_ip, server_ip
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.rng = random.Random(seed)
        self.herald_port, self.client_port = herald_port, client_port
        # netgdb: the client's (kernel's) acks are never lost (a lost kernel ack makes
        # any resend appear twice: PROTOCOL.md section 10) and only it duplicates.
        self.spare_client_acks = spare_client_acks
        self.duplicate_client_only = duplicate_client_only
        self.sel = selectors.DefaultSelector()
        self.to_server = self._bind(client_port)  # the "client" socket the server talks to
        self.heralds = self._bind(herald_port)
        self.mirrors: dict[int, socket.socket] = {}
        self.held: list[tuple[socket.socket, bytes, tuple[str, int]]] = []
        self.stats = {"forwarded": 0, "lost": 0, "duplicated": 0, "reordered": 0}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _bind(self, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((self.relay_ip, port))
        self.sel.register(s, selectors.EVENT_READ)
        return s

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]

    def _impair(
        self, sock: socket.socket, data: bytes, dest: tuple[str, int], from_client: bool = False
    ) -> None:
        r = self.rng.random()
        spared = from_client and self.spare_client_acks and len(data) == 4
        if r < self.loss and not spared:
            self.stats["lost"] += 1
            return
        if self.rng.random() < self.reorder and not self.held:
            self.held.append((sock, data, dest))
            self.stats["reordered"] += 1
            return
        sock.sendto(data, dest)
        self.stats["forwarded"] += 1
        may_duplicate = from_client or not self.duplicate_client_only
        if self.rng.random() < self.duplicate and may_duplicate:
            sock.sendto(data, dest)
            self.stats["duplicated"] += 1
        for item in self.held:
            item[0].sendto(item[1], item[2])
        self.held.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            events = self.sel.select(0.01)
            if not events and self.held:
                for s, d, a in self.held:
                    s.sendto(d, a)
                self.held.clear()
            for key, _ in events:
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data, (_src_ip, src_port) = sock.recvfrom(65536)
                except OSError:
                    continue
                if sock is self.to_server:  # an ack from a server session port
                    mirror = self.mirrors.get(src_port)
                    if mirror is None:
                        mirror = self.mirrors[src_port] = self._bind(src_port)
                    self._impair(mirror, data, (self.client_ip, self.client_port))
                elif sock is self.heralds:
                    self._impair(self.to_server, data, (self.server_ip, self.herald_port), True)
                else:  # client data for a session port
                    port = sock.getsockname()[1]
                    self._impair(self.to_server, data, (self.server_ip, port), True)
