"""The readers of a bucket: `debugnet dumps --catalogue URL --store s3://…` on what a collector
wrote into SeaweedFS and PostgreSQL — signatures from the message buffer read back out of
the bucket, msgbuf, show, extract, decrypt and rm — checked against the same bytes on disk."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from debugnet.catalogue.files import signature_of
from debugnet.cli import main
from debugnet.netdump.send import DEFAULT_PANIC, send_dump
from debugnet.triage.signature import signature
from tests.browser import free_tcp_port
from tests.dumpdirs import trap_minidump
from tests.netutil import free_loopback
from tests.opensslutil import needs_openssl, rsa_keypair
from tests.s3server import Weed
from tests.test_scaleout import (
    PORT,
    Collector,
    collectors,
    dumps_cli,
    ended,
    migrated,
    own_weed,
    pg_cluster,
    pg_url,
    record_when,
    weed,
)

__all__ = ["collectors", "own_weed", "pg_cluster", "pg_url", "weed"]

pytestmark = [pytest.mark.slow, needs_openssl]


def _gone(w: Weed, bucket: str, key: str) -> bool:
    try:
        w.client().head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        return "404" in str(exc) or "Not Found" in str(exc)
    return False


def test_dumps_reads_what_a_collector_wrote_to_the_bucket(
    weed: Weed,
    pg_url: str,
    collectors: Callable[..., Collector],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = weed.new_bucket()
    url = migrated(pg_url)
    c = collectors(weed, bucket, url, "c0")
    env = os.environ | weed.env()
    for name, value in weed.env().items():  # for the in-process `debugnet send`
        monkeypatch.setenv(name, value)
    store = ["--catalogue", url, "--store", f"s3://{bucket}/crash"]
    core = trap_minidump() + bytes(range(256)) * 64
    zipped, plain, sealed = (free_loopback((20024,), avoid={c.ip}) for _ in range(3))
    send_dump(c.ip, core, client=zipped, server_port=PORT, compress="gzip")
    assert dumps_cli(env, *store, "mkdir", "rack1").returncode == 0
    send_dump(c.ip, core, client=plain, server_port=PORT, mode="seed", path="rack1")
    private, public = rsa_keypair(tmp_path)
    (tmp_path / "memory.img").write_bytes(core)
    argv = ["send", "-s", c.ip, "-c", sealed, "--port", str(PORT), "--encrypt", str(public)]
    assert main([*argv, str(tmp_path / "memory.img")]) == 0

    # The signature each collector recorded came from the message buffer in the bucket:
    # the same as the one computed from the file on disk, not the panic string's alone.
    on_disk = tmp_path / "vmcore.disk"
    on_disk.write_bytes(core)
    expected = signature_of(on_disk, DEFAULT_PANIC, "none").title
    assert expected != signature(DEFAULT_PANIC, None).title
    for dump in (f"{zipped}.0", f"rack1/{plain}.0"):
        assert record_when(url, dump, ended).signature == expected
    assert record_when(url, f"{sealed}.0", ended).signature == signature(DEFAULT_PANIC).title

    r = dumps_cli(env, *store, "msgbuf", f"{zipped}.0")
    assert r.returncode == 0, r.stderr
    assert "Fatal trap 12: page fault while in kernel mode" in r.stdout
    r = dumps_cli(env, *store, "show", f"rack1/{plain}.0", "--json")
    shown = json.loads(r.stdout)
    assert "tcp_output" in shown["msgbuf_tail"] and shown["info"].endswith("Dump complete\n")
    assert shown["collector"] == "c0"

    # extract and decrypt stream from the bucket into local files; the bucket is unchanged
    out = tmp_path / "plain.core"
    r = dumps_cli(env, *store, "extract", f"{zipped}.0", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == core
    r = dumps_cli(env, *store, "extract", f"{zipped}.0", "-o", str(out))
    assert r.returncode != 0 and "exists" in r.stderr and len(r.stderr.splitlines()) == 1
    opened = tmp_path / "opened.core"
    r = dumps_cli(env, *store, "decrypt", f"{sealed}.0", "--key", str(private), "-o", str(opened))
    assert r.returncode == 0, r.stderr
    assert opened.read_bytes() == core
    r = dumps_cli(env, *store, "msgbuf", f"{sealed}.0")
    assert r.returncode != 0 and "decrypt" in r.stderr

    # with no -o, the result lands in the current directory, named as on disk
    r = dumps_cli(env, *store, "extract", f"{zipped}.0")  # cwd: the test's
    assert r.returncode == 0, r.stderr
    here = Path.cwd() / f"vmcore.{zipped}.0"
    try:
        assert here.read_bytes() == core
    finally:
        here.unlink(missing_ok=True)

    # the dashboard over the shared catalogue and the bucket, no local directory
    proc, base = _web(env, "--catalogue", url, "--store", f"s3://{bucket}/crash")
    try:
        page = urllib.request.urlopen(f"{base}/dumps/rack1/{plain}.0", timeout=30).read()
        assert b"Fatal trap 12" in page and b"c0" in page
        name = f"vmcore_encrypted.{sealed}.0"
        with urllib.request.urlopen(f"{base}/download/{sealed}.0?file={name}", timeout=30) as r:
            body = r.read()
        stored = weed.client().get_object(Bucket=bucket, Key=f"crash/{name}")["Body"].read()
        assert body == stored and len(body) >= len(core)
    finally:
        proc.terminate()
        proc.wait(30)

    # reindex rebuilds the shared catalogue from the bucket alone, signatures included
    before = json.loads(dumps_cli(env, "--catalogue", url, "list", "--json").stdout)
    r = dumps_cli(env, *store, "reindex")
    assert r.returncode == 0 and r.stdout.startswith("3 dumps indexed"), (r.stdout, r.stderr)
    after = json.loads(dumps_cli(env, "--catalogue", url, "list", "--json").stdout)
    same = ("id", "state", "bytes", "signature", "compression", "encrypted", "collector")

    def facts(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: d[k] for k in same} | {"files": sorted(d["files"])} for d in listed]

    assert facts(after) == facts(before)
    r = dumps_cli(env, "--catalogue", url, "reindex")  # one directory would replace them all
    assert r.returncode != 0 and "--store" in r.stderr

    # rm deletes the objects and the record; the others stay
    r = dumps_cli(env, *store, "rm", f"rack1/{plain}.0")
    assert r.returncode == 0, r.stderr
    assert f"removed s3://{bucket}/crash/rack1/vmcore.{plain}.0" in r.stdout
    assert _gone(weed, bucket, f"crash/rack1/vmcore.{plain}.0")
    assert _gone(weed, bucket, f"crash/rack1/info.{plain}.0")
    listed = json.loads(dumps_cli(env, "--catalogue", url, "list", "--json").stdout)
    assert sorted(d["id"] for d in listed) == sorted([f"{zipped}.0", f"{sealed}.0"])
    stored = weed.client().get_object(Bucket=bucket, Key=f"crash/vmcore.{zipped}.0.gz")
    assert gzip.decompress(stored["Body"].read()) == core


def test_a_bucket_needs_the_shared_catalogue(tmp_path: Path) -> None:
    env = os.environ | {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    missing = tmp_path / "nowhere"
    r = dumps_cli(env, "--dir", str(missing), "--store", "s3://bucket/crash", "list")
    assert r.returncode != 0
    assert r.stderr.strip().endswith(
        "--store needs the catalogue the collectors share: --catalogue URL"
    )


def _web(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    ip = free_loopback((20024,))
    port = free_tcp_port(ip)
    argv = [sys.executable, "-m", "debugnet", "web", "--bind", ip, "--port", str(port), *args]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "dashboard at" in line, (line, proc.stderr.read() if proc.stderr else "")
    assert "None" not in line, line
    return proc, f"http://{ip}:{port}"


def test_dashboard_streams_downloads_from_the_bucket(
    weed: Weed, collectors: Callable[..., Collector], tmp_path: Path
) -> None:
    """A collector with a bucket and the embedded catalogue; `debugnet web --store` beside it."""
    bucket = weed.new_bucket()
    c = collectors(weed, bucket, str(tmp_path / "c0" / "catalogue.sqlite"), "c0")
    client = free_loopback((20024,), avoid={c.ip})
    core = trap_minidump() + os.urandom(3 * 1024 * 1024)  # several 1 MiB pieces
    send_dump(c.ip, core, client=client, server_port=PORT, compress="zstd")
    env = os.environ | weed.env()
    proc, base = _web(env, "--dir", str(tmp_path / "c0"), "--store", f"s3://{bucket}/crash")
    try:
        overview = urllib.request.urlopen(f"{base}/", timeout=30).read().decode()
        assert "free in the dump directory" not in overview  # the dumps are not on this disk
        name = f"vmcore.{client}.0.zst"
        page = urllib.request.urlopen(f"{base}/dumps/{client}.0", timeout=30).read().decode()
        assert "Fatal trap 12: page fault while in kernel mode" in page  # msgbuf from the bucket
        assert "Dump complete" in page  # the info object
        with urllib.request.urlopen(f"{base}/download/{client}.0?file={name}", timeout=30) as r:
            body = r.read()
            assert int(r.headers["Content-Length"]) == len(body)
            assert name in r.headers["Content-Disposition"]
        stored = weed.client().get_object(Bucket=bucket, Key=f"crash/{name}")["Body"].read()
        assert (
            body == stored and zstandard.ZstdDecompressor().decompressobj().decompress(body) == core
        )
        missing = f"{base}/download/{client}.0?file=vmcore.nothere"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(missing, timeout=30)
        assert err.value.code == 404
    finally:
        proc.terminate()
        proc.wait(30)


def test_listing_a_bucket_catalogue_does_not_load_the_sdk(tmp_path: Path) -> None:
    """`--store` only matters to actions that read files: `list` stays as fast as without."""
    code = (
        "import sys; from debugnet.cli import main; "
        f"rc = main(['dumps', '--catalogue', {str(tmp_path / 'c.sqlite')!r}, "
        "'--store', 's3://bucket/crash', 'list', '--json']); "
        "print(rc, 'boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines()[-1] == "0 False False", (r.stdout, r.stderr)
