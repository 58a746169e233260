"""The gate against a real in-process chain: authentication (401), authorization from
the cached metagraph (403), rate limits (429), body limits (413) and refusals of bad
tasks, each answered with an ``ErrorBody``."""

from __future__ import annotations

import json
import time

from tests.miner.helpers import post_task, signed, task, with_config
from wmnet.miner.config import DEFAULT_MIN_STAKE, MinerConfig
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.errors import ErrorBody
from wmnet.protocol.spec import CAPACITY_PATH, MAX_REQUEST_BYTES, ROLLOUT_PATH


def error_of(response, status: int, code: str) -> ErrorBody:
    assert response.status_code == status, response.text
    body = ErrorBody.model_validate_json(response.content)
    assert body.error == code
    return body


def get_capacity(http, wallet, receiver, nonce_ns=None):
    headers = signed(wallet, b"", receiver, path=CAPACITY_PATH, method="GET", nonce_ns=nonce_ns)
    return http.get(CAPACITY_PATH, headers=headers)


def test_health_needs_no_auth_and_metrics_answer_loopback(serve, config):
    with serve(config) as http:
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["metagraph_block"] is not None
        assert health.json()["metagraph_stale"] is False
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert "wmnet_miner_metagraph_block" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")


def test_authentication_failures_are_401(serve, config, network):
    keys, me = network.keys, config.hotkey_ss58
    body = task().model_dump_json().encode()
    with serve(config) as http:
        unsigned = http.post(ROLLOUT_PATH, content=body)
        assert "X-Bittensor-Version" in error_of(unsigned, 401, "unauthenticated").detail

        stale = signed(keys.validator, body, me, nonce_ns=time.time_ns() - 60 * 10**9)
        detail = error_of(
            http.post(ROLLOUT_PATH, content=body, headers=stale), 401, "unauthenticated"
        )
        assert "older" in detail.detail

        other = task().model_dump_json().encode()
        tampered = signed(keys.validator, body, me)
        response = http.post(ROLLOUT_PATH, content=other, headers=tampered)
        assert "signature" in error_of(response, 401, "unauthenticated").detail

        wrong = signed(keys.validator, body, keys.stranger.hotkey.ss58_address)
        response = http.post(ROLLOUT_PATH, content=body, headers=wrong)
        assert "receiv" in error_of(response, 401, "unauthenticated").detail

        # A signature for another path does not open this one.
        elsewhere = signed(keys.validator, body, me, path="/v1/other")
        error_of(http.post(ROLLOUT_PATH, content=body, headers=elsewhere), 401, "unauthenticated")


def test_a_replayed_request_is_401(serve, config, network):
    body = task().model_dump_json().encode()
    headers = signed(network.keys.validator, body, config.hotkey_ss58)
    with serve(config) as http:
        assert http.post(ROLLOUT_PATH, content=body, headers=headers).status_code == 200
        again = http.post(ROLLOUT_PATH, content=body, headers=headers)
        assert "already accepted" in error_of(again, 401, "unauthenticated").detail


def test_authorization_comes_from_the_metagraph(serve, config, network):
    keys, me = network.keys, config.hotkey_ss58
    with serve(config) as http:
        stranger = get_capacity(http, keys.stranger, me)
        assert "not registered" in error_of(stranger, 403, "forbidden").detail
        idle = get_capacity(http, keys.idle, me)
        assert "permit" in error_of(idle, 403, "forbidden").detail
        small = get_capacity(http, keys.small, me)
        assert "below" in error_of(small, 403, "forbidden").detail
        ok = get_capacity(http, keys.validator, me)
        assert ok.status_code == 200, ok.text
        report = CapacityReport.model_validate_json(ok.content)
        assert report.hotkey == me and report.precisions == ["fp32", "int8"]
        assert report.slots == config.max_batch and report.queue_depth == 0
    # The same small validator passes once the miner's minimum is lowered.
    with serve(with_config(config, min_stake=0.5)) as http:
        assert get_capacity(http, keys.small, me).status_code == 200


def test_by_default_a_permit_with_a_little_stake_buys_nothing(serve, config, network):
    # "small" holds a permit (every staked neuron does on a small subnet) and 1 TAO of
    # stake: the default minimum refuses it; the staked validator still gets through.
    keys, me = network.keys, config.hotkey_ss58
    default = MinerConfig(hotkey_ss58=me, netuid=config.netuid, metagraph_poll_s=0.2)
    assert default.min_stake == DEFAULT_MIN_STAKE > 1
    with serve(default) as http:
        assert "below" in error_of(get_capacity(http, keys.small, me), 403, "forbidden").detail
        assert get_capacity(http, keys.validator, me).status_code == 200


def test_the_token_bucket_answers_429_with_retry_after(serve, config, network):
    keys, me = network.keys, config.hotkey_ss58
    with serve(with_config(config, rate=0.2, burst=2)) as http:
        assert get_capacity(http, keys.validator, me).status_code == 200
        assert get_capacity(http, keys.validator, me).status_code == 200
        limited = get_capacity(http, keys.validator, me)
        body = error_of(limited, 429, "rate_limited")
        assert body.retry_after_s is not None and body.retry_after_s > 0
        assert int(limited.headers["Retry-After"]) >= 1
        metrics = http.get("/metrics").text
        assert 'wmnet_miner_gate_rejections_total{reason="rate_limited"} 1' in metrics


def test_oversized_bodies_are_413_before_auth(serve, config, network):
    big = b"x" * (MAX_REQUEST_BYTES + 1)
    with serve(config) as http:
        declared = http.post(ROLLOUT_PATH, content=big)
        error_of(declared, 413, "too_large")

        def chunks():  # no Content-Length: the stream is cut off at the limit
            for _ in range(MAX_REQUEST_BYTES // 65536 + 2):
                yield b"y" * 65536

        streamed = http.post(ROLLOUT_PATH, content=chunks())
        error_of(streamed, 413, "too_large")


def test_bad_tasks_are_refused_with_reasons(serve, config, network):
    keys, me = network.keys, config.hotkey_ss58

    def send(raw: bytes):
        return http.post(ROLLOUT_PATH, content=raw, headers=signed(keys.validator, raw, me))

    with serve(with_config(config, rate=1000, burst=1000)) as http:
        error_of(send(b"{not json"), 400, "invalid")
        fields = json.loads(task().model_dump_json())
        error_of(send(json.dumps({**fields, "actions": []}).encode()), 422, "invalid")
        error_of(send(json.dumps({**fields, "extra": 1}).encode()), 422, "invalid")
        error_of(send(json.dumps([1, 2]).encode()), 422, "invalid")
        version = error_of(
            send(json.dumps({**fields, "spec_version": 99}).encode()), 400, "invalid"
        )
        assert "99" in version.detail
        workload = send(json.dumps({**fields, "workload": "train_shard"}).encode())
        error_of(workload, 400, "unsupported")
        # Valid on the wire, but not what this miner serves.
        unknown = post_task(http, keys.validator, me, task(model_id="ab" * 32))
        error_of(unknown, 404, "unknown_model")
        bf16 = post_task(http, keys.validator, me, task(precision="bf16"))
        assert "bf16" in error_of(bf16, 400, "unsupported").detail
        action = post_task(http, keys.validator, me, task(actions=[1, 200]))
        error_of(action, 400, "invalid")
        assert http.get("/nowhere").status_code == 404
        assert http.get("/healthz").status_code == 200
