"""``POST /v1/shard`` behind the same gate as rollouts: an honest training round
against the in-process chain, the gate's refusals, and the capacity report."""

from __future__ import annotations

import json

import pytest
import torch

from tests.miner.helpers import signed, with_config
from tests.miner.test_miner_gate import error_of, get_capacity
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.shard import InnerHyper, ShardResult, ShardTask
from wmnet.protocol.spec import MAX_UPDATE_BYTES, SHARD_PATH
from wmnet.training import envelope, params
from wmnet.training.compress import Compressed
from wmnet.training.shards import assign
from wmnet.training.store import LocalStore
from wmnet.worldmodel.checkpoint import default_model_id, load_default

HYPER = InnerHyper(inner_steps=3, batch=2, seq_len=4, lr=1e-3)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def shard_task(hotkey: str, **fields) -> ShardTask:
    base = {
        "task_id": "shard-task-0001",
        "round_id": "round-0001",
        "base_id": default_model_id(),
        "shard": assign("round-0001", hotkey, 2, 8),
        "hyper": HYPER,
        "deadline_ms": 60_000,
    }
    base.update(fields)
    return ShardTask(**base)


def post(http, wallet, receiver, body: bytes):
    return http.post(SHARD_PATH, content=body, headers=signed(wallet, body, receiver, SHARD_PATH))


def test_an_honest_shard_round_stores_a_decodable_update(serve, config, network, tmp_path):
    store = LocalStore(tmp_path / "store")
    me, validator = config.hotkey_ss58, network.keys.validator
    signer = network.keys.miner.hotkey
    with serve(with_config(config, store=str(store.root)), signer=signer) as http:
        task = shard_task(validator.hotkey.ss58_address)
        response = post(http, validator, me, task.model_dump_json().encode())
        assert response.status_code == 200, response.text
        result = ShardResult.model_validate_json(response.content)
        assert (result.task_id, result.round_id, result.base_id) == (
            task.task_id,
            task.round_id,
            task.base_id,
        )
        assert result.samples == HYPER.inner_steps * HYPER.batch
        assert result.compute_ms > 0 and result.loss_first is not None
        # Under its own prefix only, sealed in an envelope it signed for this task.
        assert {u.author for u in store.list_updates()} == {me}
        assert not store.list()  # a miner writes no checkpoints
        data = store.get_update(me, result.update_id, MAX_UPDATE_BYTES).data
        assert len(data) == result.update_bytes
        payload = envelope.open_for(data, me, task.task_id)
        with pytest.raises(envelope.EnvelopeError):
            envelope.open_for(data, me, "another-task-01")
        with pytest.raises(envelope.ForeignEnvelope):
            envelope.open_for(data, validator.hotkey.ss58_address, task.task_id)
        update = Compressed.from_bytes(payload, expect_n=params.count(load_default()))
        assert update.layout.k == round(HYPER.density * HYPER.chunk)
        report = CapacityReport.model_validate_json(get_capacity(http, validator, me).content)
        assert report.workloads == ["rollout", "train_shard"]


def test_the_gate_guards_the_shard_endpoint(serve, config, network, tmp_path):
    keys, me = network.keys, config.hotkey_ss58
    body = shard_task(keys.validator.hotkey.ss58_address).model_dump_json().encode()
    signer = keys.miner.hotkey
    with serve(with_config(config, store=str(tmp_path / "store")), signer=signer) as http:
        error_of(http.post(SHARD_PATH, content=body), 401, "unauthenticated")
        error_of(post(http, keys.stranger, me, body), 403, "forbidden")
        error_of(post(http, keys.idle, me, body), 403, "forbidden")  # no permit
        error_of(post(http, keys.small, me, body), 403, "forbidden")  # too little stake
        assert not LocalStore(tmp_path / "store").list_updates()  # nothing was trained


def test_bad_shard_tasks_are_refused_before_any_work(serve, config, network, tmp_path):
    keys, me = network.keys, config.hotkey_ss58
    signer = keys.miner.hotkey
    with serve(with_config(config, store=str(tmp_path / "store")), signer=signer) as http:
        error_of(post(http, keys.validator, me, b"{not json"), 400, "invalid")
        raw = json.loads(shard_task("x").model_dump_json())
        raw["workload"] = "rollout"
        error_of(post(http, keys.validator, me, json.dumps(raw).encode()), 400, "unsupported")
        raw = json.loads(shard_task("x").model_dump_json())
        raw["hyper"]["inner_steps"] = 10**9
        error_of(post(http, keys.validator, me, json.dumps(raw).encode()), 422, "invalid")
        unknown = shard_task("x", base_id="ab" * 32).model_dump_json().encode()
        error_of(post(http, keys.validator, me, unknown), 404, "unknown_model")


def test_a_miner_without_a_store_serves_rollouts_only(serve, config, network):
    keys, me = network.keys, config.hotkey_ss58
    with serve(config) as http:
        body = shard_task("x").model_dump_json().encode()
        error_of(post(http, keys.validator, me, body), 400, "unsupported")
        report = CapacityReport.model_validate_json(get_capacity(http, keys.validator, me).content)
        assert report.workloads == ["rollout"]


def test_a_store_without_the_miners_key_is_refused_at_start(serve, config, network, tmp_path):
    # Training shards need the hotkey that signs updates: none given, none in the config.
    store = with_config(config, store=str(tmp_path / "store"))
    with pytest.raises(ValueError, match="sign"), serve(store):
        pass
    with (
        pytest.raises(ValueError, match="not this miner"),
        serve(store, signer=network.keys.validator.hotkey),
    ):
        pass
