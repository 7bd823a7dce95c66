"""Several collectors, one bucket (SeaweedFS), one catalogue (PostgreSQL 15), real clients.

Every collector is a ``debugnet serve`` process of its own on its own loopback
address, configured the standard AWS way through the environment, as an
operator would run them. Failures are real too: the object store and the
database are stopped and started, a collector is SIGKILLed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from debugnet.catalogue import DumpRecord, DumpState
from debugnet.catalogue.postgres import PostgresCatalogue
from debugnet.errors import TimedOut
from debugnet.netdump.send import send_dump
from debugnet.triage.info import INTERRUPTED_LINE
from tests.dumpclient import DATA, KDH, ClientTimeout, DumpClient
from tests.netutil import free_loopback
from tests.pgserver import PgCluster, pg_cluster, pg_url
from tests.s3server import Weed, own_weed, weed
from tests.serverutil import kdh, start_server, wait_for

__all__ = ["own_weed", "pg_cluster", "pg_url", "weed"]

pytestmark = pytest.mark.slow
PORT = 20223
"""A herald port of our own: another server on the box may hold 0.0.0.0:20023."""
MiB = 1024 * 1024


@dataclass
class Collector:
    name: str
    ip: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on udp" in line, line

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def collectors(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    started: list[Collector] = []
    taken: set[str] = set()

    def make(w: Weed, bucket: str, catalogue: str, name: str, *extra: str) -> Collector:
        ip = free_loopback((PORT, 20024), avoid=taken)
        taken.add(ip)
        dumpdir = tmp_path / name
        dumpdir.mkdir(exist_ok=True)
        argv = [sys.executable, "-m", "debugnet", "serve", "--bind", ip, "--port", str(PORT)]
        argv += ["--dir", str(dumpdir), "--no-resolve", "--store", f"s3://{bucket}/crash"]
        argv += ["--catalogue", catalogue, "--collector-id", name, *extra]
        c = Collector(name, ip, argv, os.environ | w.env())
        c.start()
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


def dumps_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "debugnet", "dumps", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def migrated(url: str) -> str:
    PostgresCatalogue(url, migrate=True).close()
    return url


def current(url: str, dump_id: str) -> DumpRecord | None:
    cat = PostgresCatalogue(url)
    try:
        return cat.get(dump_id)
    finally:
        cat.close()


def record_when(url: str, dump_id: str, done: Callable[[DumpRecord], bool]) -> DumpRecord:
    """The record once ``done`` holds for it (the collectors write it from their threads)."""
    wait_for(lambda: (r := current(url, dump_id)) is not None and done(r), timeout=60)
    r = current(url, dump_id)
    assert r is not None
    return r


def ended(r: DumpRecord) -> bool:
    return r.state is not DumpState.RECEIVING and r.signature is not None


def obj(w: Weed, bucket: str, key: str) -> bytes:
    data: bytes = w.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def uploads(w: Weed, bucket: str) -> list[str]:
    return [u["Key"] for u in w.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@dataclass
class Sent:
    client: str
    collector: Collector
    data: bytes
    mode: str
    compress: str | None = None
    key: bytes | None = None
    path: str | None = None


def test_three_collectors_one_bucket_one_catalogue(
    weed: Weed, pg_url: str, collectors: Callable[..., Collector]
) -> None:
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    env = os.environ | weed.env()
    r = dumps_cli(env, "--catalogue", url, "--store", f"s3://{bucket}/crash", "mkdir", "rack1")
    assert r.returncode == 0, r.stderr
    cs = [collectors(weed, bucket, url, f"c{i}") for i in range(3)]
    rng = random.Random(15)
    clients: set[str] = {c.ip for c in cs}
    jobs = []
    for i in range(9):
        ip = free_loopback((20024,), avoid=clients)
        clients.add(ip)
        jobs.append(
            Sent(
                ip,
                cs[i % 3],
                rng.randbytes(rng.randrange(1, 3 * MiB)),
                mode=("window", "seed")[i % 2],
                compress="gzip" if i % 3 == 1 else None,
                key=rng.randbytes(256) if i % 3 == 2 else None,
                path="rack1" if i % 2 else None,
            )
        )
    errors: list[BaseException] = []

    def run(job: Sent) -> None:
        try:
            send_dump(
                job.collector.ip,
                job.data,
                client=job.client,
                server_port=PORT,
                mode=job.mode,
                compress=job.compress,
                key=job.key,
                path=job.path,
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    # one host sent to every collector in turn: the index goes on across them
    first = jobs[0]
    for c in cs:
        send_dump(c.ip, b"again" * 1000, client=first.client, server_port=PORT)
    for job in jobs:
        where = f"{job.path}/" if job.path else ""
        r = record_when(url, f"{where}{job.client}.0", ended)
        assert (r.state, r.collector, r.ip) == (DumpState.COMPLETE, job.collector.name, job.client)
        stem = "vmcore_encrypted" if job.key else "vmcore"
        suffix = ".gz" if job.compress else ""
        core = f"{where}{stem}.{job.client}.0{suffix}"
        assert core in r.files and f"{where}info.{job.client}.0" in r.files
        stored = obj(weed, bucket, f"crash/{core}")
        assert (gzip.decompress(stored) if job.compress else stored) == job.data
        assert r.bytes == len(stored)
        info = obj(weed, bucket, f"crash/{where}info.{job.client}.0")
        assert info.startswith(f"Dump from {job.client} [{job.client}]\n".encode())
        assert info.endswith(b"Dump complete\n")
        if job.key:
            assert obj(weed, bucket, f"crash/{where}key.{job.client}.0") == job.key
    for n, c in enumerate(cs, start=1):
        r = record_when(url, f"{first.client}.{n}", ended)
        assert r.collector == c.name
        assert obj(weed, bucket, f"crash/vmcore.{first.client}.{n}") == b"again" * 1000
    assert uploads(weed, bucket) == []
    r = dumps_cli(env, "--catalogue", url, "list", "--json")
    listed = json.loads(r.stdout)
    assert len(listed) == 12
    assert {d["collector"] for d in listed} == {"c0", "c1", "c2"}
    store = ["--store", f"s3://{bucket}/crash"]
    r = dumps_cli(env, "--catalogue", url, *store, "show", f"rack1/{jobs[1].client}.0", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["info"].endswith("Dump complete\n")


def _half_dump(c: DumpClient, length: int, sent: int) -> None:
    c.herald()
    c.send(KDH, kdh(length))
    for off in range(0, sent, 65536):
        c.send(DATA, b"\xab" * 65536, off)


def test_killed_collector_restart_aborts_only_its_own_upload(
    weed: Weed, pg_url: str, collectors: Callable[..., Collector]
) -> None:
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    a = collectors(weed, bucket, url, "a")
    b = collectors(weed, bucket, url, "b")
    ip_a = free_loopback((20024,), avoid={a.ip, b.ip})
    ip_b = free_loopback((20024,), avoid={a.ip, b.ip, ip_a})
    with DumpClient(ip_a, a.ip, server_port=PORT) as ca, DumpClient(ip_b, b.ip, PORT) as cb:
        _half_dump(ca, 20 * MiB, 10 * MiB)
        _half_dump(cb, 20 * MiB, 10 * MiB)
        wait_for(lambda: len(uploads(weed, bucket)) == 2, timeout=60)
        a.kill()
        a.start()  # the same collector id: its sweep and catalogue recovery run
        r = record_when(url, f"{ip_a}.0", lambda r: r.state is not DumpState.RECEIVING)
        assert (r.state, r.reason, r.collector) == (DumpState.INCOMPLETE, "interrupted", "a")
        assert uploads(weed, bucket) == [f"crash/vmcore.{ip_b}.0"]  # b's dump is live
        assert obj(weed, bucket, f"crash/info.{ip_a}.0").endswith(INTERRUPTED_LINE)
        for off in range(10 * MiB, 20 * MiB, 65536):  # b's client goes on undisturbed
            cb.send(DATA, b"\xcd" * 65536, off)
        cb.finish()
    r = record_when(url, f"{ip_b}.0", ended)
    assert (r.state, r.collector) == (DumpState.COMPLETE, "b")
    stored = obj(weed, bucket, f"crash/vmcore.{ip_b}.0")
    assert stored == b"\xab" * (10 * MiB) + b"\xcd" * (10 * MiB)
    assert uploads(weed, bucket) == []


def test_store_stopped_mid_dump(
    own_weed: Weed, pg_url: str, collectors: Callable[..., Collector]
) -> None:
    """The dump fails with the reason and no FINISHED ack; the collector keeps serving;
    the upload is aborted and the info object written once the store is back."""
    w = own_weed
    bucket = w.new_bucket()
    url = migrated(pg_url)
    c = collectors(w, bucket, url, "c", "--store-timeout", "2")
    ip = free_loopback((20024,), avoid={c.ip})
    with DumpClient(ip, c.ip, server_port=PORT, retries=100) as client:
        _half_dump(client, 30 * MiB, 10 * MiB)
        wait_for(lambda: len(uploads(w, bucket)) == 1, timeout=60)
        w.stop()
        with pytest.raises(ClientTimeout):
            for off in range(10 * MiB, 30 * MiB, 65536):
                client.send(DATA, b"\xab" * 65536, off)
            client.finish()
    r = record_when(url, f"{ip}.0", lambda r: r.state is not DumpState.RECEIVING)
    assert r.state is DumpState.INCOMPLETE  # the table of endings: store unreachable
    assert r.reason is not None and "object store unreachable for 2 s" in r.reason
    w.start()
    other = free_loopback((20024,), avoid={c.ip, ip})
    for attempt in range(5):  # still serving; a freshly restarted SeaweedFS may need a moment
        try:
            send_dump(c.ip, b"after" * 5000, client=other, server_port=PORT)
            break
        except TimedOut:
            if attempt == 4:
                raise
    assert obj(w, bucket, f"crash/vmcore.{other}.0") == b"after" * 5000
    wait_for(lambda: uploads(w, bucket) == [], timeout=60)  # the janitor aborted it
    wait_for(lambda: b"unreachable" in obj(w, bucket, f"crash/info.{ip}.0"), timeout=60)


def test_database_restarted_mid_dump(
    weed: Weed, pg_cluster: PgCluster, pg_url: str, collectors: Callable[..., Collector]
) -> None:
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    c = collectors(weed, bucket, url, "c")
    ip = free_loopback((20024,), avoid={c.ip})
    data = random.Random(5).randbytes(6 * MiB)
    with DumpClient(ip, c.ip, server_port=PORT) as client:
        client.herald()
        client.send(KDH, kdh(len(data)))
        client.send(DATA, data[: 3 * MiB], 0)
        pg_cluster.stop()
        try:
            client.send(DATA, data[3 * MiB :], 3 * MiB)
            client.finish()  # acked: the dump does not wait for the catalogue
        finally:
            pg_cluster.start()
    r = record_when(url, f"{ip}.0", ended)
    assert (r.state, r.bytes, r.length) == (DumpState.COMPLETE, len(data), len(data))
    assert obj(weed, bucket, f"crash/vmcore.{ip}.0") == data


def test_large_dump_through_a_small_spool(
    weed: Weed, pg_url: str, collectors: Callable[..., Collector]
) -> None:
    """64 MiB through a 2 MiB spool (the 2 GiB / 64 MiB run is bench/scaleout.py's)."""
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    c = collectors(weed, bucket, url, "c", "--spool-max", "2M")
    ip = free_loopback((20024,), avoid={c.ip})
    size = 64 * MiB
    block = random.Random(6).randbytes(MiB)
    data = b"".join(block[i:] + block[:i] for i in range(64))
    send_dump(c.ip, data, client=ip, server_port=PORT, mode="window")
    r = record_when(url, f"{ip}.0", ended)
    assert (r.state, r.bytes) == (DumpState.COMPLETE, size)
    digest = hashlib.sha256()
    stream: Any = weed.client().get_object(Bucket=bucket, Key=f"crash/vmcore.{ip}.0")["Body"]
    for chunk in iter(lambda: stream.read(MiB), b""):
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(data).digest()


def test_directory_collectors_sharing_a_catalogue_claim_their_indexes(
    pg_url: str, tmp_path: Path
) -> None:
    """Two collectors, each with its own disk, one database: a host's second dump,
    sent to the other collector, is host.1 there, not a second host.0."""
    url = migrated(pg_url)
    a = start_server(tmp_path / "a", port=PORT, catalogue_url=url, collector_id="a")
    b = start_server(tmp_path / "b", port=PORT, catalogue_url=url, collector_id="b")
    try:
        ip = free_loopback((20024,), avoid={a.ip, b.ip})
        send_dump(a.ip, b"first" * 100, client=ip, server_port=PORT)
        send_dump(b.ip, b"second" * 100, client=ip, server_port=PORT)
    finally:
        a.stop()
        b.stop()
    assert (tmp_path / "a" / f"vmcore.{ip}.0").read_bytes() == b"first" * 100
    assert (tmp_path / "b" / f"vmcore.{ip}.1").read_bytes() == b"second" * 100
    assert not (tmp_path / "b" / f"info.{ip}.0").exists()
    assert record_when(url, f"{ip}.0", ended).collector == "a"
    assert record_when(url, f"{ip}.1", ended).collector == "b"
