"""Weights blended from per-workload moving scores, attribution from each workload's
contribution, and the state file carrying the train_shard scores and head."""

from __future__ import annotations

import json

import pytest

from wmnet.protocol.usage import WeightAttribution
from wmnet.validator.blend import blend
from wmnet.validator.scoring import MovingScores
from wmnet.validator.state import load_state, save_state

SHARES = {"rollout": 0.5, "train_shard": 0.5}


def _scores(values: dict[int, float]) -> MovingScores:
    ms = MovingScores()
    for uid, s in values.items():
        ms.update(uid, f"hk{uid}", s)
    return ms


def test_weights_blend_workloads_by_share_and_attribute_each_part():
    rollout = _scores({1: 1.0, 2: 1.0})  # -> 0.5, 0.5
    shard = _scores({2: 1.0, 3: 3.0})  # -> 0.25, 0.75
    weights, by = blend({"rollout": rollout, "train_shard": shard}, SHARES)
    assert weights == pytest.approx({1: 0.25, 2: 0.375, 3: 0.375})
    assert sum(weights.values()) == pytest.approx(1.0)
    assert by[1] == {"rollout": 1.0}
    assert by[2] == pytest.approx({"rollout": 2 / 3, "train_shard": 1 / 3})
    assert by[3] == {"train_shard": 1.0}
    for uid, w in weights.items():  # every row is a valid ledger record
        WeightAttribution(
            time=0.0,
            netuid=1,
            block=1,
            validator_hotkey="v",
            miner_uid=uid,
            miner_hotkey=f"hk{uid}",
            weight=w,
            by_workload=by[uid],
        )


def test_a_workload_without_scores_gives_its_share_to_the_others():
    rollout = _scores({1: 0.2, 2: 0.6})
    weights, by = blend({"rollout": rollout, "train_shard": MovingScores()}, SHARES)
    assert weights == pytest.approx(rollout.weights())  # exactly the rollout-only weights
    assert all(b == {"rollout": 1.0} for b in by.values())
    assert blend({"rollout": MovingScores(), "train_shard": MovingScores()}, SHARES) == ({}, {})


def test_a_zero_share_workload_earns_nothing():
    weights, by = blend(
        {"rollout": _scores({1: 1.0}), "train_shard": _scores({2: 1.0})},
        {"rollout": 0.0, "train_shard": 1.0},
    )
    assert weights == {2: 1.0} and by == {2: {"train_shard": 1.0}}


def test_state_keeps_shard_scores_and_head_and_reads_older_files(tmp_path):
    path = tmp_path / "state.json"
    state = load_state(path, netuid=3, alpha=0.3)
    state.scores.update(1, "hk1", 0.5)
    state.shard_scores.update(2, "hk2", 0.9)
    state.shard_head, state.shard_steps = "ab" * 32, 4
    save_state(state, path)
    back = load_state(path, netuid=3, alpha=0.4)
    assert back.shard_scores.scores == {2: 0.9} and back.shard_scores.hotkeys == {2: "hk2"}
    assert back.shard_head == "ab" * 32 and back.shard_steps == 4
    assert back.scores.alpha == back.shard_scores.alpha == 0.4
    old = json.loads(path.read_text())
    for key in ("shard_scores", "shard_hotkeys", "shard_head", "shard_steps"):
        del old[key]
    path.write_text(json.dumps(old))
    before = load_state(path, netuid=3, alpha=0.4)
    assert before.shard_scores.scores == {} and before.shard_head is None
