"""Several collectors, one bucket (SeaweedFS), one catalogue (PostgreSQL 15), real clients.

Every collector is a ``debugnet serve`` process of its own on its own loopback
address, configured the standard AWS way through the environment, as an
operator would run them. Failures are real too: the object store and the
database are stopped and started, a collector is SIGKILLed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from debugnet.catalogue import DumpRecord, DumpState, ListQuery
from debugnet.catalogue.postgres import PostgresCatalogue
from debugnet.errors import TimedOut
from debugnet.netdump.encrypt import CIPHERS, make_encryption
from debugnet.netdump.send import send_dump
from debugnet.storage.s3.upload import TAIL
from debugnet.triage.decrypt import StreamDecryptor, unlock
from debugnet.triage.info import INTERRUPTED_LINE
from tests.dumpclient import DATA, KDH, ClientTimeout, DumpClient
from tests.netutil import free_loopback
from tests.pgserver import PgCluster, pg_cluster, pg_url
from tests.procs import stop_process
from tests.s3server import Weed, own_weed, weed
from tests.serverutil import kdh, start_server, wait_for

__all__ = ["own_weed", "pg_cluster", "pg_url", "weed"]

pytestmark = pytest.mark.slow
PORT = 20223
"""A herald port of our own: another server on the box may hold 0.0.0.0:20023."""
MiB = 1024 * 1024
LARGE = 2048 * MiB
"""The issue's large dump: 2 GiB through a 64 MiB spool."""


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
        if self.proc is not None:
            stop_process(self.proc, grace=30)


@pytest.fixture
def collectors(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    started: list[Collector] = []
    taken: set[str] = set()

    def make(
        w: Weed,
        bucket: str,
        catalogue: str,
        name: str,
        *extra: str,
        hosts: Path | None = None,
        avoid: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> Collector:
        """``hosts``: names resolve (reverse DNS) from that file, not ``--no-resolve``."""
        ip = free_loopback((PORT, 20024), avoid=taken | avoid)
        taken.add(ip)
        dumpdir = tmp_path / name
        dumpdir.mkdir(exist_ok=True)
        argv = [sys.executable, "-m", "debugnet", "serve", "--bind", ip, "--port", str(PORT)]
        argv += ["--dir", str(dumpdir), "--store", f"s3://{bucket}/crash"]
        argv += ["--catalogue", catalogue, "--collector-id", name, *extra]
        argv = with_hosts_file(hosts, argv) if hosts else [*argv, "--no-resolve"]
        c = Collector(name, ip, argv, os.environ | w.env())
        c.start()
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


def _can_bind_hosts() -> bool:
    """Whether a child can have an /etc/hosts of its own (root, unshare(1), mount namespaces)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--mount", "--", "sh", "-c", "mount --bind /etc/hosts /etc/hosts"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


needs_private_hosts = pytest.mark.skipif(
    not _can_bind_hosts(),
    reason="a private /etc/hosts for the collectors needs root, unshare(1) and mount namespaces",
)


def with_hosts_file(hosts: Path, argv: list[str]) -> list[str]:
    """``argv`` in a mount namespace of its own where ``hosts`` is /etc/hosts: the
    collector's reverse DNS gives the names the test chose (netdumpd names dumps by them)."""
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    wrapper = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
    return [*wrapper, str(hosts), *argv]


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
    host: str
    to: int
    """Which of the three collectors."""
    data: bytes
    mode: str
    compress: str | None
    cipher: str | None
    path: str | None


CRASHBOX = "crashbox"
"""The name several client addresses resolve to: their dumps must still get distinct N."""


def _plan(i: int, client: str, rng: random.Random) -> Sent:
    """Client ``i``'s dump: features cycle on co-prime periods, so every collector gets
    every compression and both client modes, and each path has several crashboxes."""
    compress = (None, "gzip", "zstd")[(i // 3) % 3]
    cipher = None
    if i % 4 == 3:
        cipher = "aes-256-cbc" if compress is None and (i // 8) % 2 == 0 else "chacha20"
    size = rng.randrange(MiB, 2 * MiB)
    return Sent(
        client,
        CRASHBOX if i % 9 < 4 else f"node{i:02d}",
        i % 3,
        rng.randbytes(size // 2) + bytes(size - size // 2),  # half compressible
        mode=("window", "seed")[i % 2],
        compress=compress,
        cipher=cipher,
        path=(None, "rack1", "rack2/row3")[(i // 9) % 3],
    )


def _send(job: Sent, collector: Collector, public_pem: bytes) -> None:
    encryption = None
    if job.cipher is not None:
        encryption = make_encryption(
            public_pem, CIPHERS[job.cipher], compressed=job.compress is not None
        )
    send_dump(
        collector.ip,
        job.data,
        client=job.client,
        server_port=PORT,
        mode=job.mode,
        compress=job.compress,
        encryption=encryption,
        path=job.path,
    )


def _plain(job: Sent, core: bytes, key_file: bytes | None, private_pem: bytes) -> bytes:
    """The dump data back from the stored objects: decrypted (decryptcore), then decompressed."""
    if job.cipher is not None:
        assert key_file is not None
        decryptor = StreamDecryptor(unlock(key_file, private_pem))
        core = decryptor.update(core) + decryptor.finalize()
    if job.compress == "gzip":
        return gzip.decompress(core)
    if job.compress == "zstd":
        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(core))
    return core


def _expected_files(job: Sent, r: DumpRecord) -> set[str]:
    where = f"{job.path}/" if job.path else ""
    stem = "vmcore_encrypted" if job.cipher else "vmcore"
    suffix = {None: "", "gzip": ".gz", "zstd": ".zst"}[job.compress]
    files = {f"{where}{stem}.{r.host}.{r.index}{suffix}", f"{where}info.{r.host}.{r.index}"}
    return files | ({f"{where}key.{r.host}.{r.index}"} if job.cipher else set())


def _hosts_file(directory: Path, jobs: list[Sent]) -> Path:
    hosts = directory / "hosts"
    lines = ["127.0.0.1 localhost", *(f"{j.client} {j.host}.example.net {j.host}" for j in jobs)]
    hosts.write_text("\n".join(lines) + "\n")
    return hosts


@needs_private_hosts
def test_three_collectors_one_bucket_one_catalogue(
    weed: Weed, pg_url: str, collectors: Callable[..., Collector], tmp_path: Path
) -> None:
    """30 concurrent clients over three collectors: both client modes, gzip and zstd,
    encrypted (netdump.encrypt, what `send --encrypt` uses) and decrypted back with the
    private key, nested herald paths, and several addresses that resolve to the same
    host name on different collectors, which must still get distinct indexes."""
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    env = os.environ | weed.env()
    store = ["--store", f"s3://{bucket}/crash"]
    for folder in ("rack1", "rack2/row3"):
        r = dumps_cli(env, "--catalogue", url, *store, "mkdir", folder)
        assert r.returncode == 0, r.stderr
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    taken: set[str] = set()
    for _ in range(30):
        taken.add(free_loopback((20024,), avoid=taken))
    rng = random.Random(15)
    jobs = [_plan(i, ip, rng) for i, ip in enumerate(sorted(taken))]
    for k in range(3):  # the plan's promise: every collector gets every kind of dump
        mine = [j for j in jobs if j.to == k]
        assert {j.compress for j in mine} == {None, "gzip", "zstd"}
        assert {j.mode for j in mine} == {"window", "seed"}
        assert {j.cipher is None for j in mine} == {True, False}
        assert {j.path for j in mine} == {None, "rack1", "rack2/row3"}
    assert {j.cipher for j in jobs} == {None, "chacha20", "aes-256-cbc"}
    hosts = _hosts_file(tmp_path, jobs)
    cs = [collectors(weed, bucket, url, f"c{i}", hosts=hosts, avoid=taken) for i in range(3)]
    errors: list[BaseException] = []

    def run(job: Sent) -> None:
        try:
            _send(job, cs[job.to], public_pem)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 240
    for t in threads:  # bounded: a client that hangs fails the test, not the run
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a client did not finish in 240 s"
    assert errors == []
    # a crashbox sent to every collector in turn: the index goes on across them
    first = jobs[0]
    assert (first.host, first.path) == (CRASHBOX, None)
    for c in cs:
        send_dump(c.ip, b"again" * 1000, client=first.client, server_port=PORT)
    cat = PostgresCatalogue(url)
    try:
        wait_for(lambda: len([r for r in cat.dumps(ListQuery()) if ended(r)]) == 33, 120)
        records = cat.dumps(ListQuery())
    finally:
        cat.close()
    by_ip: dict[str, list[DumpRecord]] = {}
    for r in records:
        by_ip.setdefault(r.ip or "", []).append(r)
    # no index collision: each (path, host) has 0..k-1, whichever collector took which
    groups: dict[tuple[str, str], list[int]] = {}
    for r in records:
        groups.setdefault((r.path, r.host), []).append(r.index)
    assert sorted(groups[("", CRASHBOX)]) == list(range(10))  # 7 at once, then 3 in turn
    assert sorted(groups[("rack1", CRASHBOX)]) == list(range(4))
    assert sorted(groups[("rack2/row3", CRASHBOX)]) == list(range(4))
    assert all(sorted(ns) == list(range(len(ns))) for ns in groups.values())
    objects: set[str] = {"rack1/", "rack2/row3/"}
    for job in jobs:
        [r] = [r for r in by_ip[job.client] if r.index < 7 or job is not first]
        assert (r.state, r.reason, r.collector, r.host) == (
            DumpState.COMPLETE,
            None,
            cs[job.to].name,
            job.host,
        ), r
        assert r.path == (job.path or "")
        assert r.encrypted is (job.cipher is not None)
        assert r.compression == (job.compress or "none")
        assert set(r.files) == _expected_files(job, r)
        objects |= set(r.files)
        got = {f: obj(weed, bucket, f"crash/{f}") for f in r.files}
        core = next(v for f, v in got.items() if f.rpartition("/")[2].startswith("vmcore"))
        key_file = next((v for f, v in got.items() if "key." in f), None)
        assert r.bytes == len(core)
        data = job.data
        if job.cipher == "aes-256-cbc":  # the client pads the last block, as the kernel
            data += bytes(-len(data) % 16)
        assert _plain(job, core, key_file, private_pem) == data
        info = next(v for f, v in got.items() if "info." in f)
        assert info.startswith(f"Dump from {job.host} [{job.client}]\n".encode())
        assert info.endswith(b"Dump complete\n")
    later = sorted((r for r in by_ip[first.client] if r.index >= 7), key=lambda r: r.index)
    assert [(r.index, r.collector) for r in later] == [(7, "c0"), (8, "c1"), (9, "c2")]
    for r in later:
        objects |= set(r.files)
        assert obj(weed, bucket, f"crash/vmcore.{CRASHBOX}.{r.index}") == b"again" * 1000
    listed_objects = weed.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = {o["Key"] for page in listed_objects for o in page.get("Contents", [])}
    assert keys == {f"crash/{f}" for f in objects}  # nothing else: no stray or renamed-from
    assert uploads(weed, bucket) == []
    r = dumps_cli(env, "--catalogue", url, "list", "--json")
    listed = json.loads(r.stdout)
    assert len(listed) == 33
    assert {d["collector"] for d in listed} == {"c0", "c1", "c2"}
    shown = f"rack2/row3/{CRASHBOX}.0"
    r = dumps_cli(env, "--catalogue", url, *store, "show", shown, "--json")
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


class Pattern(io.RawIOBase):
    """``size`` bytes that are never held in memory: MiB ``k`` is a random MiB rotated by
    ``k`` bytes, so no two neighbouring MiB are alike and a misplaced part shows."""

    def __init__(self, size: int, seed: int) -> None:
        block = random.Random(seed).randbytes(MiB)
        self._twice = block + block
        self.size = size
        self._pos = 0

    def at(self, offset: int, n: int) -> bytes:
        """The ``n`` bytes at ``offset`` (within one MiB)."""
        k, within = divmod(offset, MiB)
        start = k % MiB + within
        return self._twice[start : start + min(n, MiB - within, self.size - offset)]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        done = 0
        while done < len(out) and self._pos < self.size:
            piece = self.at(self._pos, len(out) - done)
            out[done : done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def matches(self, stream: Any) -> int:
        """Bytes of ``stream`` read, after checking each against the pattern (raises if not)."""
        offset, pending = 0, b""
        for chunk in iter(lambda: stream.read(MiB), b""):
            pending += chunk
            while len(pending) >= MiB or (pending and offset + len(pending) == self.size):
                n = min(len(pending), MiB - offset % MiB)
                if pending[:n] != self.at(offset, n):
                    raise AssertionError(f"the object differs in the MiB at {offset}")
                offset, pending = offset + n, pending[n:]
        assert pending == b""
        return offset


def _vm_hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1])


@pytest.mark.parametrize(
    ("size", "spool"),
    [
        pytest.param(64 * MiB, "2M", id="64M-through-2M"),
        pytest.param(LARGE, "64M", id="2G-through-64M"),
    ],
)
def test_large_dump_through_a_small_spool(
    weed: Weed, pg_url: str, collectors: Callable[..., Collector], size: int, spool: str
) -> None:
    """A dump many times the spool streams through in bounded memory: the collector's
    peak RSS stays below what it had idle plus spool + parts queued and in flight
    (and botocore's copy of each part it sends), however large the dump."""
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    c = collectors(weed, bucket, url, "c", "--spool-max", spool, "--parts-in-flight", "4")
    assert c.proc is not None
    idle = _vm_hwm_kib(c.proc.pid) * 1024
    ip = free_loopback((20024,), avoid={c.ip})
    data = Pattern(size, seed=6)
    send_dump(c.ip, data, client=ip, server_port=PORT, mode="window")  # type: ignore[arg-type]
    peak = _vm_hwm_kib(c.proc.pid) * 1024
    r = record_when(url, f"{ip}.0", ended)
    assert (r.state, r.bytes) == (DumpState.COMPLETE, size)
    stream = weed.client().get_object(Bucket=bucket, Key=f"crash/vmcore.{ip}.0")["Body"]
    assert data.matches(stream) == size
    part, inflight = 8 * MiB, 4
    budget = int(spool[:-1]) * MiB + inflight * part  # spool + queued parts (upload.py)
    bound = idle + budget + (part + TAIL) + inflight * part + 32 * MiB  # + buffer, copies, slack
    assert peak < bound, f"peak RSS {peak >> 20} MiB, bound {bound >> 20} MiB (idle {idle >> 20})"


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
