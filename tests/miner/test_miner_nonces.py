"""The Redis nonce store: one accepted (hotkey, nonce) across store instances (workers).

Needs a Redis server: set ``WMNET_TEST_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/15``).
Each test uses its own key prefix, so runs never see each other's nonces.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
from bittensor import http_auth

from tests.miner.helpers import signed, task, with_config
from wmnet.miner.nonces import RedisNonceStore, make_nonce_store
from wmnet.protocol.spec import ROLLOUT_PATH

REDIS_URL = os.environ.get("WMNET_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="WMNET_TEST_REDIS_URL is not set (a Redis server to test against)"
)


@pytest.fixture
def prefix() -> str:
    return f"wmnet-test:{uuid.uuid4().hex}:"


def test_without_a_url_the_store_is_the_sdks_in_memory_one():
    store = make_nonce_store(None, "unused:")
    assert isinstance(store, http_auth.InMemoryNonceStore)
    assert store.check_and_store("hk", 1) and not store.check_and_store("hk", 1)


@needs_redis
def test_a_replay_is_refused_across_two_store_instances(prefix, network):
    first = RedisNonceStore.from_url(REDIS_URL, prefix)
    second = RedisNonceStore.from_url(REDIS_URL, prefix)  # as another worker would hold
    try:
        wallet, miner = network.keys.validator, network.keys.miner.hotkey.ss58_address
        body = b'{"x": 1}'
        headers = http_auth.sign(
            wallet, method="POST", path=ROLLOUT_PATH, body=body, receiver_ss58=miner
        )
        kwargs = {"method": "POST", "path": ROLLOUT_PATH, "self_hotkey_ss58": miner}
        http_auth.verify(headers, body, nonce_store=first, **kwargs)
        with pytest.raises(http_auth.ReplayedRequest):
            http_auth.verify(headers, body, nonce_store=second, **kwargs)
        # Another nonce from the same hotkey, and the same nonce from another, both pass.
        assert second.check_and_store(wallet.hotkey.ss58_address, time.time_ns())
        assert first.check_and_store("someone-else", int(headers["X-Bittensor-Nonce"]))
        # Keys expire after the retention window (no unbounded growth).
        key = f"{prefix}{wallet.hotkey.ss58_address}:{headers['X-Bittensor-Nonce']}"
        assert 0 < first._redis.ttl(key) <= 60
    finally:
        for store in (first, second):
            for key in store._redis.scan_iter(f"{prefix}*"):
                store._redis.delete(key)
            store.close()


@needs_redis
def test_two_apps_sharing_redis_refuse_a_replay(serve, config, network, prefix):
    shared = with_config(config, redis_url=REDIS_URL, redis_prefix=prefix)
    body = task().model_dump_json().encode()
    headers = signed(network.keys.validator, body, config.hotkey_ss58)
    with serve(shared) as one, serve(shared) as two:
        assert one.post(ROLLOUT_PATH, content=body, headers=headers).status_code == 200
        again = two.post(ROLLOUT_PATH, content=body, headers=headers)
        assert again.status_code == 401 and "already accepted" in again.json()["detail"]
