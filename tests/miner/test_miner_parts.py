"""The miner's parts on their own: token buckets, the metagraph cache when the chain
goes away, the busy meter, config checks, and the adversarial test cheats."""

from __future__ import annotations

import numpy as np
import pytest

from tests.miner.helpers import post_task, task, with_config
from wmnet.miner.cheats import extrapolate_steps
from wmnet.miner.config import MinerConfig
from wmnet.miner.metagraph_cache import MetagraphCache
from wmnet.miner.ratelimit import TokenBuckets
from wmnet.miner.recording import ResultRecorder, load_recorded
from wmnet.miner.scheduler import BusyMeter
from wmnet.miner.serve import StartupError, publish_ip, redact_url
from wmnet.protocol.digest import step_digests
from wmnet.protocol.rollout import RolloutResult


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_in_proportion_to_stake():
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=2, clock=clock)
    for hotkey, share in (("big", 4.0), ("mean", 1.0)):
        assert buckets.take(hotkey, share) == 0 and buckets.take(hotkey, share) == 0
    assert buckets.take("big", 4.0) == pytest.approx(0.25)  # 4x the mean: 4 tokens/s
    assert buckets.take("mean", 1.0) == pytest.approx(1.0)
    assert buckets.take("tiny", 0.0) == 0  # the floor: a permitted validator is not starved
    assert buckets.refill_rate(0.0) == pytest.approx(0.1)
    clock.now += 0.25
    assert buckets.take("big", 4.0) == 0
    assert buckets.take("mean", 1.0) > 0
    buckets.forget_except({"mean"})
    assert buckets.take("big", 4.0) == 0  # a forgotten hotkey starts with a full bucket


async def test_the_cache_keeps_the_last_good_metagraph_when_the_chain_fails(network):
    healthy = network.client_factory()
    broken = {"on": False}

    def factory():
        if broken["on"]:
            raise ConnectionError("chain unreachable")
        return healthy()

    failures = []
    cache = MetagraphCache(network.netuid, factory, on_failure=lambda: failures.append(1))
    assert await cache.poll_once()
    block = cache.snapshot.block
    validator = network.keys.validator.hotkey.ss58_address
    assert cache.lookup(validator).validator_permit
    assert cache.lookup("nobody") is None

    broken["on"] = True
    await cache._drop_client()  # the connection is gone too
    assert not await cache.poll_once()
    assert cache.stale and "unreachable" in cache.last_error and failures == [1]
    assert cache.snapshot.block == block and cache.lookup(validator) is not None

    broken["on"] = False
    network.chain.advance(1)
    assert await cache.poll_once()
    assert not cache.stale and cache.snapshot.block > block
    await cache._drop_client()


def test_busy_fraction_counts_compute_time_in_the_window():
    clock = Clock()
    meter = BusyMeter(window_s=10.0, clock=clock)
    meter.begin()
    clock.now += 2.0
    meter.end()
    clock.now += 3.0
    assert meter.fraction() == pytest.approx(0.2)
    meter.begin()
    clock.now += 1.0
    assert meter.fraction() == pytest.approx(0.3)  # the running batch counts too
    meter.end()
    clock.now += 20.0
    assert meter.fraction() == 0.0


def test_config_refuses_workers_without_redis_and_bad_values():
    with pytest.raises(ValueError, match="redis-url"):
        MinerConfig(hotkey_ss58="x", netuid=1, workers=2)
    with pytest.raises(ValueError, match="precisions"):
        MinerConfig(hotkey_ss58="x", netuid=1, precisions=("fp16",))
    config = MinerConfig(hotkey_ss58="x", netuid=1, workers=2, redis_url="redis://:secret@h:1/0")
    assert "secret" not in repr(config)
    assert MinerConfig.from_json(config.to_json()) == config


def test_published_address_and_redaction():
    assert publish_ip("127.0.0.1", None) == "127.0.0.1"
    assert publish_ip("localhost", None) == "127.0.0.1"
    assert publish_ip("0.0.0.0", "203.0.113.7") == "203.0.113.7"
    assert publish_ip("10.1.2.3", None) == "10.1.2.3"
    with pytest.raises(StartupError, match="external-ip"):
        publish_ip("0.0.0.0", None)
    assert redact_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


# --- ADVERSARIAL TEST BEHAVIOUR: the cheats -------------------------------------------


def test_extrapolation_fakes_a_tenth_of_the_steps_never_the_first():
    rng = np.random.default_rng(0)
    ctx = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    lat = rng.standard_normal((16, 2, 2, 2)).astype(np.float32)
    faked, positions = extrapolate_steps(ctx, lat, np.random.default_rng(1), 0.1)
    assert len(positions) == 2 and 0 not in positions
    changed = [j for j in range(16) if not np.array_equal(faked[j], lat[j])]
    assert changed == positions
    seq = np.concatenate([ctx, faked])
    for j in positions:
        t = 3 + j
        np.testing.assert_allclose(seq[t], 2 * seq[t - 1] - seq[t - 2], rtol=1e-6)
    one, none = extrapolate_steps(ctx, lat[:1], np.random.default_rng(1), 0.1)
    assert none == [] and np.array_equal(one, lat[:1])


def answer(serve, config, network, t):
    with serve(config) as http:
        response = post_task(http, network.keys.validator, config.hotkey_ss58, t)
    assert response.status_code == 200, response.text
    return RolloutResult.model_validate_json(response.content)


def test_cheats_answer_with_binding_digests(serve, config, network, tmp_path):
    t = task(actions=[1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])
    honest = answer(serve, with_config(config, record_dir=str(tmp_path)), network, t)
    assert len(load_recorded(tmp_path)) == 1

    rand = answer(serve, with_config(config, cheat="random"), network, t)
    assert rand.latents.shape == honest.latents.shape
    assert rand.digests == step_digests(rand.latents.numpy())
    assert not np.allclose(rand.latents.numpy(), honest.latents.numpy())

    fake = answer(serve, with_config(config, cheat="fake10"), network, t)
    assert fake.digests == step_digests(fake.latents.numpy())
    differs = ~np.isclose(fake.latents.numpy(), honest.latents.numpy(), atol=1e-5).all(
        axis=(1, 2, 3)
    )
    assert differs.sum() == 2 and not differs[0]  # ceil(10 % of 11) steps, never step 0

    other = task(actions=t.actions)
    replay = answer(
        serve, with_config(config, cheat="replay", replay_dir=str(tmp_path)), network, other
    )
    assert replay.task_id == other.task_id
    assert replay.digests == honest.digests  # another task's answer, passed off as this one

    empty = answer(
        serve,
        with_config(config, cheat="replay", replay_dir=str(tmp_path / "none")),
        network,
        other,
    )
    assert empty.digests == step_digests(empty.latents.numpy())


def test_the_recorder_prunes_the_oldest(tmp_path, serve, config, network):
    result = answer(serve, config, network, task())
    recorder = ResultRecorder(tmp_path, max_files=3)
    for _ in range(5):
        recorder.write(result)
    assert len(list(tmp_path.glob("*.json"))) == 3
    (tmp_path / "junk.json").write_text("{")
    assert len(load_recorded(tmp_path)) == 3  # unreadable files are skipped
