"""Alerts: a JSON POST to each ``--notify`` URL when a dump ends.

Each receiver has its own thread and bounded queue. ``submit`` only puts a
document on the queues (never blocks, drops with a warning when a queue is
full), so a slow, hanging or dead receiver never delays a dump, the server or
another receiver. Failed posts are retried with exponential backoff.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from urllib.parse import quote, urlsplit

from debugnet.errors import InvalidArgument

log = logging.getLogger(__name__)


class Delivery(Enum):
    SENT = "sent"
    FAILED = "failed"
    """Every retry failed."""
    DROPPED = "dropped"
    """The receiver's queue was full."""


@dataclass(frozen=True, slots=True)
class DumpEnded:
    """What an alert says about one dump (the catalogue's view of it)."""

    id: str
    host: str
    ip: str
    state: str
    reason: str | None
    signature: str | None
    new_signature: bool
    bytes: int
    panic: str | None = None


def alert_document(ended: DumpEnded, dashboard: str | None) -> dict[str, object]:
    """The JSON body: the dump's fields, dashboard links and a Slack-compatible ``text``."""
    doc: dict[str, object] = asdict(ended)
    links: dict[str, str] = {}
    if dashboard:
        base = dashboard.rstrip("/")
        links["dump"] = f"{base}/dumps/{quote(ended.id, safe='')}"
        if ended.signature:
            links["group"] = f"{base}/groups/{quote(ended.signature, safe='')}"
    doc["links"] = links
    state = ended.state + (f" ({ended.reason})" if ended.reason else "")
    text = f"debugnet: dump {ended.id} from {ended.host} [{ended.ip}] {state}"
    if ended.panic:
        text += f": panic: {ended.panic}"
    if ended.new_signature:
        text += f"\nNew signature {ended.signature}"
    if "dump" in links:
        text += f"\n<{links['dump']}|open in the dashboard>"
    doc["text"] = text
    return doc


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"--notify {url!r}: not an http(s) URL")
    return url


class _Receiver:
    """One URL: a queue and the thread that posts what is on it."""

    def __init__(self, notifier: Notifier, url: str) -> None:
        self.notifier = notifier
        self.url = url
        self.queue: queue.Queue[bytes | None] = queue.Queue(notifier.queue_size)
        self.thread = threading.Thread(target=self._run, name=f"notify-{url}", daemon=True)

    def _run(self) -> None:
        while (body := self.queue.get()) is not None:
            self.notifier._count(self._deliver(body))

    def _deliver(self, body: bytes) -> Delivery:
        n = self.notifier
        for attempt in range(n.retries + 1):
            if attempt and n.stopping.wait(n.backoff * 2 ** (attempt - 1)):
                return Delivery.FAILED
            try:
                self._post(body)
                return Delivery.SENT
            except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
                log.warning("notify %s: attempt %d failed: %s", self.url, attempt + 1, exc)
        return Delivery.FAILED

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.notifier.timeout) as response:
            response.read(65536)


class Notifier:
    """Posts alert documents to every URL in the background."""

    def __init__(
        self,
        urls: Sequence[str],
        dashboard: str | None = None,
        *,
        queue_size: int = 100,
        retries: int = 4,
        backoff: float = 2.0,
        timeout: float = 10.0,
    ) -> None:
        self.dashboard = dashboard
        self.queue_size = queue_size
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.stopping = threading.Event()
        self.counts: Counter[Delivery] = Counter()
        self._lock = threading.Lock()
        self._receivers = [_Receiver(self, check_url(u)) for u in urls]
        for receiver in self._receivers:
            receiver.thread.start()

    def _count(self, result: Delivery) -> None:
        with self._lock:
            self.counts[result] += 1

    def snapshot(self) -> dict[Delivery, int]:
        with self._lock:
            return dict(self.counts)

    def submit(self, ended: DumpEnded) -> None:
        """Queue an alert for every receiver; returns at once, whatever they do."""
        body = json.dumps(alert_document(ended, self.dashboard)).encode()
        for receiver in self._receivers:
            try:
                receiver.queue.put_nowait(body)
            except queue.Full:
                log.warning("notify %s: queue full; alert for %s dropped", receiver.url, ended.id)
                self._count(Delivery.DROPPED)

    def close(self, timeout: float = 5.0) -> None:
        """Stop retrying, let each thread finish the post it is in (up to ``timeout``)."""
        self.stopping.set()
        for receiver in self._receivers:
            while True:  # make room for the sentinel; what is still queued is abandoned
                try:
                    receiver.queue.put_nowait(None)
                    break
                except queue.Full:
                    try:
                        receiver.queue.get_nowait()
                    except queue.Empty:
                        pass
        for receiver in self._receivers:
            receiver.thread.join(timeout)
