"""The object store: named by hash, verified on read, on a local directory and on a
real S3-compatible server (moto) started on loopback."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import pytest

from wmnet.training.store import (
    AuthorStore,
    LocalStore,
    ObjectCorrupt,
    ObjectMissing,
    ObjectRefused,
    StoreError,
    open_store,
)

BUCKET = "wmnet-test"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed (pip install 'moto[server]')"
    )
    pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'wmnet[s3]')")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    # moto accepts any credentials; keep real ones (if any) out of the test.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


class _Backend:
    """One store plus a way to tamper with its stored bytes behind its back."""

    def __init__(self, store, overwrite):
        self.store, self.overwrite = store, overwrite


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> _Backend:
    if request.param == "local":
        store = LocalStore(tmp_path / "store")

        def overwrite(oid: str, data: bytes) -> None:
            (store.objects / oid).write_bytes(data)

        return _Backend(store, overwrite)
    endpoint = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("aws_env")
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"{BUCKET}-{request.node.name.lower()}"[:63].replace("[", "-").replace("]", "")
    client.create_bucket(Bucket=bucket)
    store = open_store(f"s3://{bucket}/shards?endpoint_url={endpoint}&region=us-east-1")

    def overwrite(oid: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"shards/objects/{oid}", Body=data)

    return _Backend(store, overwrite)


def test_objects_are_named_by_their_hash_and_read_back(backend):
    store = backend.store
    data = b"an update" * 100
    oid = store.put(data)
    assert oid == hashlib.sha256(data).hexdigest()
    assert store.put(data) == oid  # idempotent
    assert store.exists(oid)
    assert store.get(oid, max_bytes=10_000) == data
    listed = {info.object_id: info for info in store.list()}
    assert listed[oid].size == len(data) and listed[oid].modified > 0


def test_a_corrupted_object_is_refused_by_hash(backend):
    data = bytes(range(256)) * 10
    oid = backend.store.put(data)
    flipped = bytearray(data)
    flipped[100] ^= 1
    backend.overwrite(oid, bytes(flipped))
    with pytest.raises(ObjectCorrupt, match="refused"):
        backend.store.get(oid, max_bytes=10_000)


def test_a_truncated_object_is_refused_by_hash(backend):
    data = b"x" * 5000
    oid = backend.store.put(data)
    backend.overwrite(oid, data[:4096])
    with pytest.raises(ObjectCorrupt, match="truncated"):
        backend.store.get(oid, max_bytes=10_000)


def test_missing_oversized_and_misnamed_objects(backend):
    store = backend.store
    with pytest.raises(ObjectMissing):
        store.get("0" * 64, max_bytes=10)
    oid = store.put(b"y" * 100)
    with pytest.raises(ObjectCorrupt, match="limit"):
        store.get(oid, max_bytes=99)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(StoreError):
            store.get(bad, max_bytes=10)


def test_refs_point_at_objects(backend):
    store = backend.store
    assert store.get_ref("head") is None
    oid = store.put(b"checkpoint bytes")
    store.set_ref("head", oid)
    assert store.get_ref("head") == oid
    with pytest.raises(StoreError):
        store.set_ref("../head", oid)
    with pytest.raises(StoreError):
        store.set_ref("head", "not-an-id")


def test_open_store_refuses_unknown_schemes(tmp_path):
    assert isinstance(open_store(str(tmp_path / "s")), LocalStore)
    with pytest.raises(StoreError, match="unknown store"):
        open_store("ftp://example/bucket")


MINER_A = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"  # //Alice's address
MINER_B = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"  # //Bob's


def test_updates_live_under_their_authors_prefix_and_are_written_once(backend):
    store = backend.store
    data = b"an update" * 50
    oid = store.put_update(MINER_A, data)
    assert oid == hashlib.sha256(data).hexdigest()
    stored = store.get_update(MINER_A, oid, max_bytes=10_000)
    assert stored.data == data and stored.stored_at > 0
    with pytest.raises(ObjectMissing):  # another author's prefix does not hold it
        store.get_update(MINER_B, oid, max_bytes=10_000)
    assert store.put_update(MINER_A, data) == oid  # the same bytes again: a no-op
    again = store.get_update(MINER_A, oid, max_bytes=10_000)
    assert again.stored_at == stored.stored_at  # not rewritten
    assert [(u.author, u.object_id) for u in store.list_updates()] == [(MINER_A, oid)]
    assert store.list() == []  # updates are not checkpoints
    with pytest.raises(ObjectCorrupt, match="limit"):
        store.get_update(MINER_A, oid, max_bytes=len(data) - 1)
    for bad in ("../../etc", "not an address", MINER_A + "/x"):
        with pytest.raises(StoreError):
            store.put_update(bad, data)


def test_an_author_handle_writes_only_its_own_prefix(tmp_path):
    store = LocalStore(tmp_path / "store")
    mine = AuthorStore(store, MINER_A)
    oid = mine.put_update(b"mine")
    assert store.get_update(MINER_A, oid, 100).data == b"mine"
    assert not hasattr(mine, "put") and not hasattr(mine, "set_ref")  # no checkpoints, refs


def test_a_fifo_or_a_symlink_is_refused_without_blocking(tmp_path):
    store = LocalStore(tmp_path / "store")
    target = tmp_path / "elsewhere"
    target.write_bytes(b"secret")
    oid = hashlib.sha256(b"secret").hexdigest()
    folder = store.updates / MINER_A
    folder.mkdir()
    os.mkfifo(folder / ("a" * 64))
    (folder / oid).symlink_to(target)
    os.symlink(target, store.objects / oid)
    started = time.monotonic()
    with pytest.raises(ObjectRefused, match="not a regular file"):
        store.get_update(MINER_A, "a" * 64, max_bytes=100)
    with pytest.raises(ObjectRefused, match="symlink"):
        store.get_update(MINER_A, oid, max_bytes=100)
    with pytest.raises(ObjectRefused, match="symlink"):
        store.get(oid, max_bytes=100)
    # A symlinked author folder is refused too, whatever it points at.
    (store.updates / MINER_B).symlink_to(folder)
    with pytest.raises(ObjectRefused):
        store.get_update(MINER_B, oid, max_bytes=100)
    assert time.monotonic() - started < 5  # nothing blocked
    assert store.list_updates() == [] and store.list() == []  # and none is listed


def test_a_planted_object_is_repaired_by_its_writer_not_kept(tmp_path):
    store = LocalStore(tmp_path / "store")
    data = b"the real checkpoint"
    oid = hashlib.sha256(data).hexdigest()
    os.mkfifo(store.objects / oid)  # planted before the validator publishes
    assert store.put(data) == oid
    assert store.get(oid, max_bytes=100) == data
