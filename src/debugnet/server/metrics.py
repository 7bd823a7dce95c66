"""Prometheus exposition: a collector that reads the server's tally at scrape time.

Nothing is counted here. ``collect`` turns a ``Tally`` snapshot, the dump
directory's free space, the catalogue's size and the notifier's deliveries
into metric families, so the cost of metrics is paid by the scraper, once per
scrape, and never per datagram. Names follow Prometheus' rules: ``debugnet_``
prefix, ``_total`` counters, bytes and seconds.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from debugnet import __version__
from debugnet.errors import DebugnetError, InvalidArgument
from debugnet.server.tally import Histogram, Tally

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from debugnet.server.notify import Delivery


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a scrape reads from; every part but the tally is optional."""

    tally: Tally
    dumpdir: Path
    catalogue_size: Callable[[], int] | None = None
    deliveries: Callable[[], dict[Delivery, int]] | None = None


def _histogram(name: str, doc: str, hist: Histogram) -> Metric:
    from prometheus_client.core import HistogramMetricFamily

    return HistogramMetricFamily(name, doc, buckets=hist.cumulative(), sum_value=hist.total)


class ServerCollector:
    """A prometheus_client custom collector over ``Sources``."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: families are produced at scrape time

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            InfoMetricFamily,
        )

        snap = self.sources.tally.snapshot()
        heralds = CounterMetricFamily(
            "debugnet_heralds",
            "Heralds: received, accepted (a session started), retransmitted.",
            labels=["outcome"],
        )
        for outcome in ("received", "accepted", "retransmitted"):
            heralds.add_metric([outcome], snap.heralds.get(outcome, 0))
        yield heralds
        refused = CounterMetricFamily(
            "debugnet_heralds_refused", "Heralds that got no session, by reason.", labels=["reason"]
        )
        for reason, n in sorted(snap.heralds_refused.items()):
            refused.add_metric([reason], n)
        yield refused
        yield GaugeMetricFamily(
            "debugnet_sessions_active", "Dumps being received now.", value=snap.sessions_active
        )
        yield CounterMetricFamily(
            "debugnet_received_bytes",
            "Dump data bytes received, retransmitted copies included.",
            value=snap.received_bytes,
        )
        yield CounterMetricFamily("debugnet_acks_sent", "Acks sent.", value=snap.acks_sent)
        dropped = CounterMetricFamily(
            "debugnet_datagrams_dropped", "Datagrams dropped, by reason.", labels=["reason"]
        )
        for reason, n in sorted(snap.datagrams_dropped.items()):
            dropped.add_metric([reason.replace(" ", "_")], n)
        yield dropped
        finished = CounterMetricFamily(
            "debugnet_dumps_finished",
            "Dumps that ended, by result (complete, incomplete, failed) and reason.",
            labels=["result", "reason"],
        )
        for (result, reason), n in sorted(snap.dumps_finished.items()):
            finished.add_metric([result, reason], n)
        yield finished
        handlers = CounterMetricFamily(
            "debugnet_handler_runs", "Handler script runs, by exit status.", labels=["status"]
        )
        for status, n in sorted(snap.handler_runs.items()):
            handlers.add_metric([status], n)
        yield handlers
        yield _histogram(
            "debugnet_dump_duration_seconds", "Time from herald to end of a dump.", snap.duration
        )
        yield _histogram(
            "debugnet_dump_size_bytes", "Size of each dump's vmcore when it ended.", snap.size
        )
        yield from self._disk(GaugeMetricFamily)
        yield from self._optional(CounterMetricFamily, GaugeMetricFamily)
        yield InfoMetricFamily(
            "debugnet_build",
            "The running debugnet.",
            value={"version": __version__, "python": platform.python_version()},
        )

    def _disk(self, gauge: Callable[..., Metric]) -> Iterator[Metric]:
        try:
            st = os.statvfs(self.sources.dumpdir)
        except OSError:
            return  # a missing directory shows as missing series, not as zero free space
        yield gauge(
            "debugnet_dumpdir_free_bytes",
            "Bytes available to the server in the dump directory.",
            value=st.f_bavail * st.f_frsize,
        )
        yield gauge(
            "debugnet_dumpdir_free_inodes",
            "Inodes available in the dump directory's file system.",
            value=st.f_favail,
        )

    def _optional(
        self, counter: Callable[..., Any], gauge: Callable[..., Metric]
    ) -> Iterator[Metric]:
        if self.sources.catalogue_size is not None:
            try:
                size: int | None = self.sources.catalogue_size()
            except DebugnetError as exc:  # a shared database down: the scrape still answers
                log.debug("catalogue size not read: %s", exc)
                size = None
            yield gauge(
                "debugnet_catalogue_up",
                "1 if the catalogue answered this scrape, else 0.",
                value=0 if size is None else 1,
            )
            if size is not None:
                yield gauge(
                    "debugnet_catalogue_dumps", "Dumps recorded in the catalogue.", value=size
                )
        if self.sources.deliveries is not None:
            alerts = counter(
                "debugnet_alerts",
                "Alert posts, by result (sent, failed, dropped).",
                labels=["result"],
            )
            for result, n in sorted(self.sources.deliveries().items(), key=lambda i: i[0].value):
                alerts.add_metric([result.value], n)
            yield alerts


def parse_address(value: str, option: str) -> tuple[str, int]:
    """``ADDR:PORT`` (or ``:PORT`` for loopback) as (addr, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"{option} {value!r}: expected ADDR:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class MetricsServer:
    """``/metrics`` over HTTP on its own thread, with its own registry."""

    def __init__(self, sources: Sources, addr: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServerCollector(sources))
        self._server, self._thread = start_http_server(port, addr, registry=self.registry)
        self.address: tuple[str, int] = self._server.server_address[:2]  # type: ignore[assignment]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
