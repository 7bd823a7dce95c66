"""A client connection and the server sessions it talks to, in virtual time.

The sim links carry opaque bytes, so each datagram is framed here as
``src port, dst port, crc32, payload``; a frame whose CRC (over the ports and
the payload, as the UDP checksum covers its header) does not match is dropped
as the UDP checksum would drop it. On the server side a tiny
shell plays netdumpd: a herald to port 20023 opens a ServerSession on a
fresh port, and the server's own DumpRecorder records its events into an
in-memory store (tests/memstore.py). An optional receive buffer of
``rcvbuf`` datagrams drained at ``service_time`` per datagram models a slow
server with a small socket buffer.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from debugnet.errors import ErrnoError, WireError
from debugnet.server.recorder import DumpRecorder
from debugnet.sim import Link, LinkConfig, Simulator, Timer, derive_seeds
from debugnet.storage.interface import DumpRequest
from debugnet.transport.client_events import ConnectionFailed, MessageAcked
from debugnet.transport.config import TransportConfig
from debugnet.transport.connection import ClientConnection
from debugnet.transport.server_events import KdhReceived
from debugnet.transport.server_session import ServerSession, SessionConfig, SessionState
from debugnet.wire.constants import NETDUMP_ACKPORT, NETDUMP_PORT
from debugnet.wire.message import MsgType, parse_herald
from tests.memstore import MemoryStore

_FRAME = struct.Struct("!HHI")
_PORTS = struct.Struct("!HH")
FIRST_SESSION_PORT = 40000


def _checksum(src: int, dst: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_PORTS.pack(src, dst)))


def frame(src: int, dst: int, payload: bytes) -> bytes:
    return _FRAME.pack(src, dst, _checksum(src, dst, payload)) + payload


def unframe(data: bytes) -> tuple[int, int, bytes] | None:
    if len(data) < _FRAME.size:
        return None
    src, dst, crc = _FRAME.unpack_from(data)
    payload = data[_FRAME.size :]
    if _checksum(src, dst, payload) != crc:
        return None
    return src, dst, payload


@dataclass
class ServerSide:
    """What the dispatcher saw: one entry per session, in creation order."""

    files: list[bytearray] = field(default_factory=list)
    kdhs: list[list[bytes]] = field(default_factory=list)
    keys: list[list[bytes]] = field(default_factory=list)
    finished: list[bool] = field(default_factory=list)
    paths: list[str | None] = field(default_factory=list)
    order: list[list[int]] = field(default_factory=list)  # message types as they arrived
    heralds: int = 0
    dropped_rcvbuf: int = 0
    dropped_checksum: int = 0


class SimServer:
    """netdumpd in miniature: real ServerSessions and DumpRecorders, an in-memory store."""

    def __init__(
        self,
        sim: Simulator,
        *,
        rcvbuf: int | None = None,
        service_time: float = 0.0,
        herald_port: int = NETDUMP_PORT,
        ack_hook: Callable[[int, bytes], bool] | None = None,
    ) -> None:
        self.sim = sim
        self.out: Link | None = None
        self.seen = ServerSide()
        self.sessions: dict[int, ServerSession] = {}
        self.recorders: dict[int, DumpRecorder] = {}
        self.store = MemoryStore()
        self._index: dict[int, int] = {}
        self._current: int | None = None
        self._next_port = FIRST_SESSION_PORT
        self._rcvbuf = rcvbuf
        self._service = service_time
        self._queue: deque[bytes] = deque()
        self._busy = False
        self._herald_port = herald_port
        self.ack_hook = ack_hook
        """Called with (session port, ack); False drops the ack (tests of lost acks)."""

    def deliver(self, data: bytes) -> None:
        if self._rcvbuf is None and not self._service:
            self._process(data)
            return
        if self._rcvbuf is not None and len(self._queue) >= self._rcvbuf:
            self.seen.dropped_rcvbuf += 1
            return
        self._queue.append(data)
        if not self._busy:
            self._busy = True
            self.sim.call_later(self._service, self._serve)

    def _serve(self) -> None:
        self._process(self._queue.popleft())
        if self._queue:
            self.sim.call_later(self._service, self._serve)
        else:
            self._busy = False

    def _process(self, data: bytes) -> None:
        parts = unframe(data)
        if parts is None:
            self.seen.dropped_checksum += 1
            return
        _src, dst, payload = parts
        now = self.sim.now
        if dst == self._herald_port:
            self._herald(payload, now)
            return
        session = self.sessions.get(dst)
        if session is None:
            return
        index = self._index[dst]
        session.receive_datagram(payload, now)
        if len(payload) >= 4:
            self.seen.order[index].append(int.from_bytes(payload[:4], "big"))
        recorder = self.recorders[dst]
        while (event := session.next_event()) is not None:
            if isinstance(event, KdhReceived):
                self.seen.kdhs[index].append(event.raw)
            if recorder.handle(event, now) is not None and session.state is SessionState.LINGER:
                self.seen.finished[index] = True
        self._flush(dst)

    def _herald(self, payload: bytes, now: float) -> None:
        try:
            herald = parse_herald(payload)
        except WireError:
            return
        self.seen.heralds += 1
        port = self._current
        if port is not None:
            session = self.sessions[port]
            if session.receive_herald(herald, now):
                self._flush(port)
                return
            session.time_out(now)  # the client started over: the old dump ends as timed out
            while (event := session.next_event()) is not None:
                self.recorders[port].handle(event, now)
        port = self._next_port
        self._next_port += 1
        session = ServerSession(herald, now, SessionConfig(timeout=600.0))
        recorder = DumpRecorder(session, self.store, DumpRequest("192.0.2.1", "sim", herald.path))
        assert recorder.open() and recorder.sink is not None
        sink = self.store.sinks[-1]
        self.sessions[port] = session
        self.recorders[port] = recorder
        self._index[port] = len(self.seen.files)
        self._current = port
        self.seen.files.append(sink.data)
        self.seen.kdhs.append([])
        self.seen.keys.append(sink.key_pieces)
        self.seen.finished.append(False)
        self.seen.paths.append(herald.path)
        self.seen.order.append([int(MsgType.HERALD)])
        self._flush(port)

    def _flush(self, port: int) -> None:
        assert self.out is not None
        for ack in self.sessions[port].datagrams_to_send(self.sim.now):
            if self.ack_hook is None or self.ack_hook(port, ack):
                self.out.send(frame(port, NETDUMP_ACKPORT, ack))


class SimClient:
    """Runs a ClientConnection as an I/O shell would, on sim time."""

    def __init__(self, sim: Simulator, conn: ClientConnection) -> None:
        self.sim = sim
        self.conn = conn
        self.out: Link | None = None
        self.error: ErrnoError | None = None
        self.acked: list[int] = []
        self.finished_at: float | None = None
        self.failed_at: float | None = None
        self.last_rx = 0.0
        """When the last datagram reached the client (0.0: never)."""
        self.feeder: Callable[[], None] | None = None
        self._timer: Timer | None = None
        self._deadline: float | None = None

    def deliver(self, data: bytes) -> None:
        parts = unframe(data)
        if parts is None:
            return
        src, dst, payload = parts
        if dst != self.conn.client_port:
            return
        self.last_rx = self.sim.now
        self.conn.receive_datagram(payload, self.sim.now, src)
        self.pump()

    def pump(self) -> None:
        conn = self.conn
        sim = self.sim
        if self.feeder is not None:
            self.feeder()
        assert self.out is not None
        port_src = conn.client_port
        for data, port in conn.datagrams_to_send(sim.now):
            self.out.send(frame(port_src, port, data))
        while (event := conn.next_event()) is not None:
            if isinstance(event, MessageAcked):
                self.acked.append(event.type)
                if event.type == MsgType.FINISHED:
                    self.finished_at = sim.now
            elif isinstance(event, ConnectionFailed):
                self.error = event.error
                self.failed_at = sim.now
        deadline = conn.next_deadline()
        if deadline != self._deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = (
                None if deadline is None else sim.call_at(max(deadline, sim.now), self._fire)
            )
            self._deadline = deadline

    def _fire(self) -> None:
        self._timer = None
        self._deadline = None
        self.conn.handle_timer(self.sim.now)
        self.pump()

    @property
    def done(self) -> bool:
        return self.finished_at is not None or self.error is not None


@dataclass
class Net:
    sim: Simulator
    client: SimClient
    server: SimServer
    up: Link
    down: Link


def build(
    conn: ClientConnection,
    link: LinkConfig,
    *,
    seed: int = 0,
    back: LinkConfig | None = None,
    **server_kwargs: object,
) -> Net:
    sim = Simulator()
    client = SimClient(sim, conn)
    server = SimServer(sim, **server_kwargs)  # type: ignore[arg-type]
    seed_up, seed_down = derive_seeds(seed, 2)
    up = Link(sim, link, server.deliver, seed=seed_up, name="up")
    down = Link(sim, back or link, client.deliver, seed=seed_down, name="down")
    client.out = up
    server.out = down
    return Net(sim, client, server, up, down)


def chunks(data: bytes, size: int = 65536) -> Iterable[tuple[int, bytes]]:
    for offset in range(0, len(data), size):
        yield offset, data[offset : offset + size]


def queue_dump(
    conn: ClientConnection, data: bytes, kdh: bytes | None = None, key: bytes | None = None
) -> None:
    """The netdump message sequence for ``data``, all queued at once (key first, as 7.3)."""
    if key is not None:
        conn.send(MsgType.EKCD_KEY, key)
    if kdh is not None:
        conn.send(MsgType.KDH, kdh)
    for offset, chunk in chunks(data):
        conn.send(MsgType.DATA, chunk, offset_start=offset)
    conn.finish()


def run_dump(
    config: TransportConfig,
    link: LinkConfig,
    data: bytes,
    *,
    seed: int = 0,
    until: float = 600.0,
    setup: Callable[[Net], None] | None = None,
    kdh: bytes | None = None,
    key: bytes | None = None,
    **server_kwargs: object,
) -> Net:
    conn = ClientConnection(config)
    net = build(conn, link, seed=seed, **server_kwargs)
    queue_dump(conn, data, kdh=kdh, key=key)
    if setup is not None:
        setup(net)
    net.client.pump()
    sim = net.sim
    while not net.client.done and sim.now < until:
        if not sim.step():
            break
    return net


def assert_key_before_data(order: list[int]) -> None:
    """PROTOCOL.md 7.3: the key is the first message after the herald, wholly before any data.

    ``order`` is every datagram's type as the session got it, retransmissions
    included, so this also says no key packet arrived after the first DATA.
    """
    key = int(MsgType.EKCD_KEY)
    after_herald = [t for t in order if t != MsgType.HERALD]
    assert after_herald and after_herald[0] == key, order[:10]
    last_key = len(order) - 1 - order[::-1].index(key)
    assert int(MsgType.DATA) not in order[:last_key], order[: last_key + 1]
