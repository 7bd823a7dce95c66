"""Dashboard pages and API calls over a catalogue of 100,000 dumps: time per request.

The catalogue is filled with records spread over 300 hosts, 40 signatures and
90 days; each page is requested through the ASGI app (no network) and the
first and the best of ``--repeat`` runs are printed (whole-catalogue
aggregates are cached until the catalogue changes, so "first" is the cost
after a change), beside the catalogue's own ``count()`` as a floor.

    python bench/web.py [--dumps 100000] [--repeat 5] [--catalogue postgresql://...]

``--catalogue`` measures a PostgreSQL catalogue instead of the embedded SQLite:
give a scratch database, its dumps are replaced by the benchmark's.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from debugnet.catalogue import DumpRecord, DumpState, open_catalogue_at
from debugnet.web.app import WebConfig, create_app
from debugnet.web.auth import Auth
from debugnet.web.catalogue_source import CatalogueSource

STATES = [DumpState.COMPLETE] * 8 + [DumpState.INCOMPLETE, DumpState.FAILED]


def fill(url: str | None, dumpdir: Path, n: int) -> None:
    rng = random.Random(1)
    now = time.time()
    records = []
    per_host: dict[str, int] = {}
    for _ in range(n):
        host = f"host{rng.randrange(300):03d}"
        index = per_host.get(host, 0)
        per_host[host] = index + 1
        sig = f"Fatal trap NUM: page fault while in kernel mode in func{rng.randrange(40)}"
        records.append(
            DumpRecord(
                host=host,
                index=index,
                started=now - rng.random() * 90 * 86400,
                ip="192.0.2.1",
                files=[f"info.{host}.{index}", f"vmcore.{host}.{index}"],
                state=rng.choice(STATES),
                bytes=rng.randrange(1 << 30),
                panic=f"page fault {rng.randrange(1000)}",
                signature=sig,
                signature_version=1,
            )
        )
    catalogue = open_catalogue_at(url, dumpdir, migrate=True)
    catalogue.replace_all(records)
    catalogue.close()


def timed(client: TestClient, url: str, repeat: int) -> tuple[float, float]:
    """(first, best) seconds: the first request after a catalogue change, then repeats."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, (url, r.status_code)
    return times[0], min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dumps", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--catalogue", metavar="URL", help="a scratch PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dumpdir = Path(tmp)
        start = time.perf_counter()
        fill(args.catalogue, dumpdir, args.dumps)
        print(f"{args.dumps} records written in {time.perf_counter() - start:.1f} s")
        source = CatalogueSource.open_at(args.catalogue, dumpdir)
        floor = min(
            (lambda t: (source.size(), time.perf_counter() - t)[1])(time.perf_counter())
            for _ in range(args.repeat)
        )
        print(f"{'request':<48} {'first ms':>9} {'best ms':>8}")
        print(f"{'(catalogue count(), the floor)':<48} {'':>9} {floor * 1e3:8.1f}")
        with TestClient(create_app(WebConfig(source, Auth(None)))) as client:
            for url in (
                "/dumps",
                f"/dumps?offset={args.dumps - 50}",
                "/dumps?state=failed",
                "/dumps?host=host123",
                "/dumps?q=fault+99",
                "/dumps?since=7d",
                "/api/dumps?limit=1000",
                f"/api/dumps?limit=100&offset={args.dumps // 2}",
                "/api/dumps/host123.5",
                "/dumps/host123.5",
                "/groups",
                "/hosts",
                "/",
            ):
                first, best = timed(client, url, args.repeat)
                print(f"{url:<48} {first * 1e3:9.1f} {best * 1e3:8.1f}")
        source.close()


if __name__ == "__main__":
    main()
