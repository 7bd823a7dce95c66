"""Alerts posted to local HTTP receivers: a good one, one that returns 500, one that hangs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from debugnet.errors import InvalidArgument
from debugnet.server.notify import Delivery, DumpEnded, Notifier, alert_document
from tests.httpsink import Receiver, reply
from tests.netutil import free_loopback

ENDED = DumpEnded(
    id="crashy.3",
    host="crashy",
    ip="192.0.2.7",
    state="incomplete",
    reason="timed out",
    signature="abc123",
    new_signature=True,
    bytes=4096,
    panic="page fault",
)


@pytest.fixture
def receivers() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], Receiver]]:
    made: list[Receiver] = []

    def make(behaviour: Callable[[BaseHTTPRequestHandler], None]) -> Receiver:
        made.append(Receiver(behaviour))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_alert_document_fields_and_slack_text() -> None:
    doc = alert_document(ENDED, "http://127.0.0.1:8023/")
    for key in ("id", "host", "ip", "state", "reason", "signature", "new_signature", "bytes"):
        assert key in doc
    assert doc["links"] == {
        "dump": "http://127.0.0.1:8023/dumps/crashy.3",
        "group": "http://127.0.0.1:8023/groups/abc123",
    }
    text = doc["text"]
    assert isinstance(text, str)
    assert "crashy.3" in text and "incomplete (timed out)" in text
    assert "New signature abc123" in text and "page fault" in text
    assert alert_document(ENDED, None)["links"] == {}


def test_posts_json_to_every_receiver(receivers: Callable[..., Receiver]) -> None:
    a, b = receivers(reply(200)), receivers(reply(204))
    notifier = Notifier([a.url, b.url], "http://127.0.0.1:8023")
    try:
        notifier.submit(ENDED)
        for r in (a, b):
            doc = json.loads(r.bodies.get(timeout=10))
            assert doc["id"] == "crashy.3" and doc["new_signature"] is True
    finally:
        notifier.close()
    assert notifier.snapshot()[Delivery.SENT] == 2


def test_500_is_retried_then_counted_failed(receivers: Callable[..., Receiver]) -> None:
    bad = receivers(reply(500))
    notifier = Notifier([bad.url], retries=2, backoff=0.0)
    notifier.submit(ENDED)
    for _ in range(3):  # the first try and two retries
        json.loads(bad.bodies.get(timeout=10))
    notifier.close()
    assert notifier.snapshot() == {Delivery.FAILED: 1}
    assert bad.bodies.empty()


def test_hanging_receiver_delays_nothing(receivers: Callable[..., Receiver]) -> None:
    """submit returns while the receiver holds the first post open; a full queue drops."""
    release = threading.Event()
    hung = receivers(lambda handler: (release.wait(30), reply(200)(handler)))
    good = receivers(reply(200))
    notifier = Notifier([hung.url, good.url], queue_size=2, retries=0)
    try:
        notifier.submit(ENDED)
        hung.bodies.get(timeout=10)  # the hung receiver holds this post open
        good.bodies.get(timeout=10)
        for _ in range(4):  # two fit the hung receiver's queue, two are dropped
            notifier.submit(ENDED)
            good.bodies.get(timeout=10)  # the good receiver gets every alert regardless
        assert not release.is_set()  # every submit returned while the receiver hung
        assert notifier.snapshot()[Delivery.DROPPED] == 2
    finally:
        release.set()
        notifier.close()


def test_dead_receiver_is_a_failure_not_an_error() -> None:
    dead = f"http://{free_loopback(())}:9/hook"  # nothing listens on the discard port
    notifier = Notifier([dead], retries=1, backoff=0.0, timeout=2.0)
    notifier.submit(ENDED)
    notifier.close(timeout=10)
    assert notifier.snapshot() == {Delivery.FAILED: 1}


def test_bad_url_is_a_user_error() -> None:
    with pytest.raises(InvalidArgument):
        Notifier(["ftp://example.invalid/x"])
