"""The S3 store against a real SeaweedFS: streaming parts, the spool, allocation, sweeps."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from debugnet.catalogue.s3location import S3Location
from debugnet.storage.interface import DumpRequest, StorageError
from debugnet.storage.s3.retry import StoreRefused
from debugnet.storage.s3.store import S3Store
from debugnet.triage.info import INTERRUPTED_LINE
from tests.s3server import Weed, own_weed, s3_env, weed
from tests.serverutil import wait_for

__all__ = ["own_weed", "s3_env", "weed"]

pytestmark = pytest.mark.slow
MiB = 1024 * 1024


def make_store(w: Weed, bucket: str, **kw: Any) -> S3Store:
    kw.setdefault("part_size", 5 * MiB)
    kw.setdefault("timeout", 5.0)
    return S3Store(S3Location.parse(f"s3://{bucket}/crash"), client=w.client(), **kw)


def body(w: Weed, bucket: str, key: str) -> bytes:
    data: bytes = w.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def uploads(w: Weed, bucket: str) -> list[str]:
    return [u["Key"] for u in w.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


REQ = DumpRequest(client_ip="192.0.2.9", host="db3")


def test_in_order_data_streams_in_parts_byte_exact(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket)
    data = random.Random(1).randbytes(17 * MiB + 1234)
    sink = store.create(REQ)
    sink.info(b"Dump from db3 [192.0.2.9]\n")
    for off in range(0, len(data), 64 * 1024):
        piece = memoryview(data)[off : off + 64 * 1024]
        sink.write_at(off, [piece[:1000], piece[1000:]], len(piece))
    assert sink.upload.started  # parts went up while data arrived
    sink.sync()
    sink.info(b"Dump complete\n")
    sink.publish()
    sink.close()
    assert sink.index == 0
    assert body(weed, bucket, "crash/vmcore.db3.0") == data
    assert body(weed, bucket, "crash/info.db3.0") == b"Dump from db3 [192.0.2.9]\nDump complete\n"
    head = weed.client().head_object(Bucket=bucket, Key="crash/info.db3.0")
    assert head["Metadata"]["collector"] == store.collector
    assert str(sink.info_path) == f"/{bucket}/crash/info.db3.0"
    assert uploads(weed, bucket) == []
    store.close()


def test_out_of_order_within_the_spool_and_holes_read_as_zeros(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket, spool_max=2 * MiB)
    data = bytearray(random.Random(2).randbytes(12 * MiB))
    blocks = [(o, bytes(data[o : o + 32768])) for o in range(0, len(data), 32768)]
    rng = random.Random(3)
    for i in range(0, len(blocks), 32):  # a window of 32 blocks arrives in any order
        window = blocks[i : i + 32]
        rng.shuffle(window)
        blocks[i : i + 32] = window
    hole = len(data) - 20 * 32768  # never arrives: what follows it waits in the spool
    blocks = [b for b in blocks if b[0] != hole]
    data[hole : hole + 32768] = bytes(32768)
    sink = store.create(REQ)
    for off, piece in blocks + blocks[:40]:  # and some retransmissions
        sink.write_at(off, [piece], len(piece))
    assert sink.upload.spool_peak <= 2 * MiB
    sink.sync()
    sink.close()
    assert body(weed, bucket, "crash/vmcore.db3.0") == bytes(data)
    store.close()


def test_far_out_of_order_overflows_the_spool(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket, spool_max=MiB)
    sink = store.create(REQ)
    sink.write_at(MiB, [bytes(MiB)], MiB)
    with pytest.raises(StorageError, match="spool-max"):
        sink.write_at(2 * MiB, [b"x"], 1)
    sink.close()
    assert uploads(weed, bucket) == []
    store.close()


def test_compressed_dump_is_cut_to_the_kdh_length_and_renamed(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket)
    sink = store.create(REQ)
    sink.set_format(encrypted=True, compression="zstd")
    sink.write_key(0, b"K" * 40)
    sink.write_at(0, [b"z" * 7000], 7000)
    sink.sync(truncate_to=6500)
    sink.close()
    assert body(weed, bucket, "crash/vmcore_encrypted.db3.0.zst") == b"z" * 6500
    assert body(weed, bucket, "crash/key.db3.0") == b"K" * 40
    store.close()


def test_kdh_after_the_data_renames_the_object(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket)
    sink = store.create(REQ)
    data = random.Random(4).randbytes(7 * MiB)
    sink.write_at(0, [data], len(data))
    sink.set_format(encrypted=False, compression="gzip")
    assert str(sink.core_path).endswith("crash/vmcore.db3.0.gz")
    sink.sync()
    sink.close()
    assert body(weed, bucket, "crash/vmcore.db3.0.gz") == data
    assert (
        weed.client().list_objects_v2(Bucket=bucket, Prefix="crash/vmcore.db3.0")["KeyCount"] == 1
    )
    store.close()


def test_aborted_dump_leaves_no_parts(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket)
    sink = store.create(REQ)
    sink.write_at(0, [bytes(11 * MiB)], 11 * MiB)
    sink.info(b"Dump incomplete: client timed out\n")
    sink.close()  # never synced
    assert uploads(weed, bucket) == []
    assert body(weed, bucket, "crash/info.db3.0") == b"Dump incomplete: client timed out\n"
    store.close()


def test_collectors_never_take_one_index_twice(weed: Weed) -> None:
    bucket = weed.new_bucket()
    taken: list[int] = []
    lock = threading.Lock()

    def collector(name: str) -> None:
        store = make_store(weed, bucket, collector=name)
        for _ in range(8):
            sink = store.create(REQ)
            with lock:
                taken.append(sink.index)
        store.close()

    threads = [threading.Thread(target=collector, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(taken) == list(range(32))


def test_herald_path_needs_its_folder_object(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket)
    req = DumpRequest(client_ip="192.0.2.9", host="db3", herald_path="rack1")
    assert store.create(req).info_key == "crash/info.db3.0"
    assert store.mkdir("rack1") == "crash/rack1/"
    assert store.create(req).info_key == "crash/rack1/info.db3.0"
    bad = DumpRequest(client_ip="192.0.2.9", host="db3", herald_path="../x")
    assert store.create(bad).info_key == "crash/info.db3.1"
    store.close()


def test_savecore_layout_names(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = make_store(weed, bucket, layout="savecore")
    sink = store.create(REQ)
    assert (sink.info_key, sink.core_key) == ("crash/db3/info.0", "crash/db3/vmcore.0")
    assert store.create(REQ).index == 1
    store.close()


def test_sweep_aborts_only_this_collectors_uploads(weed: Weed) -> None:
    bucket = weed.new_bucket()
    mine, peer = make_store(weed, bucket, collector="a"), make_store(weed, bucket, collector="b")
    for store in (mine, peer):
        sink = store.create(REQ)
        sink.info(b"Dump from db3 [192.0.2.9]\n")
        sink.write_at(0, [bytes(6 * MiB)], 6 * MiB)
        sink.upload.wait_parts()  # the part is up: the upload exists (then "killed")
        sink._put_info()
    assert len(uploads(weed, bucket)) == 2
    restarted = make_store(weed, bucket, collector="a")
    assert restarted.sweep() == ["info.db3.0"]
    assert uploads(weed, bucket) == ["crash/vmcore.db3.1"]  # the peer's dump goes on
    assert body(weed, bucket, "crash/info.db3.0").endswith(INTERRUPTED_LINE)
    assert not body(weed, bucket, "crash/info.db3.1").endswith(INTERRUPTED_LINE)
    for store in (mine, peer, restarted):
        store.close()


def test_wrong_secret_is_refused(weed: Weed) -> None:
    bucket = weed.new_bucket()
    store = S3Store(S3Location.parse(f"s3://{bucket}"), client=weed.client("wrong", retries=1))
    with pytest.raises(StoreRefused, match="SignatureDoesNotMatch"):
        store.create(REQ)
    store.close()


def test_store_down_mid_dump_then_back(own_weed: Weed) -> None:
    """Unreachable for the timeout: the write fails with the reason; the upload is
    aborted and the info written once the store returns."""
    w = own_weed
    bucket = w.new_bucket()
    store = make_store(w, bucket, timeout=2.0, spool_max=MiB)  # a budget of 21 MiB
    sink = store.create(REQ)
    sink.write_at(0, [bytes(6 * MiB)], 6 * MiB)
    sink.upload.wait_parts()
    w.stop()
    with pytest.raises(StorageError, match="unreachable") as failed:
        for i in range(6, 60):
            sink.write_at(i * MiB, [bytes(MiB)], MiB)
    sink.info(b"Dump unsuccessful: %s\n" % str(failed.value).encode())
    sink.close()
    assert store.janitor.pending == 2  # the abort and the info object wait
    w.start()
    wait_for(lambda: store.janitor.pending == 0, timeout=60)  # the janitor thread retries
    assert uploads(w, bucket) == []
    assert b"unreachable" in body(w, bucket, "crash/info.db3.0")
    store.close()
