"""Scores, moving averages, persisted state and usage events."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wmnet.protocol.rollout import RolloutTask
from wmnet.protocol.usage import UsageEvent, WeightAttribution
from wmnet.validator.scoring import MovingScores, latency_penalty
from wmnet.validator.state import ValidatorState, load_state, save_state
from wmnet.validator.tasks import TaskPolicy, draw_task
from wmnet.validator.usage import JsonlUsageSink


def test_latency_penalty_shape():
    assert latency_penalty(1.0, 10.0) == 1.0
    assert latency_penalty(7.5, 10.0) == pytest.approx(0.75)
    assert latency_penalty(10.0, 10.0) == pytest.approx(0.5)
    assert latency_penalty(1.0, 0.0) == 0.0


def test_moving_average_resets_when_a_uid_changes_hands():
    ms = MovingScores(alpha=0.5)
    ms.update(3, "old", 1.0)
    ms.update(3, "old", 0.0)
    assert ms.scores[3] == pytest.approx(0.5)
    ms.update(3, "new", 0.0)  # a new owner starts from its own first score
    assert ms.scores[3] == 0.0
    ms.update(4, "b", 1.0)
    assert ms.sync({3: "new", 4: "other"}) == [4]
    assert 4 not in ms.scores
    assert ms.weights() == {}
    ms.update(5, "c", 0.25)
    ms.update(6, "d", 0.75)
    assert ms.weights() == {5: 0.25, 6: 0.75}


def test_state_survives_a_restart_and_refuses_foreign_files(tmp_path):
    path = tmp_path / "state.json"
    state = load_state(path, netuid=2, alpha=0.3)
    state.scores.update(1, "hk1", 0.8)
    state.last_weights, state.last_weights_block = {1: 1.0}, 42
    save_state(state, path)
    again = load_state(path, netuid=2, alpha=0.3)
    assert again.scores.scores == {1: 0.8} and again.scores.hotkeys == {1: "hk1"}
    assert again.last_weights == {1: 1.0} and again.last_weights_block == 42
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    with pytest.raises(ValueError, match="netuid 2, not 3"):
        load_state(path, netuid=3, alpha=0.3)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a wmnet validator state file"):
        load_state(path, netuid=2, alpha=0.3)


def test_a_failed_write_keeps_the_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    save_state(ValidatorState(netuid=1), path)
    before = path.read_text()
    state = ValidatorState(netuid=1)
    state.scores.update(9, "x", 1.0)

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        save_state(state, path)
    assert path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]


def test_usage_sink_appends_both_kinds_and_skips_a_torn_line(tmp_path):
    sink = JsonlUsageSink(tmp_path / "u" / "usage.jsonl")
    event = UsageEvent(
        request_id="r1",
        time=1.0,
        netuid=1,
        validator_hotkey="v",
        miner_uid=2,
        miner_hotkey="hk",
        workload="rollout",
        units=16,
        device_seconds=0.5,
        origin="synthetic",
        verified=True,
        reason="ok",
    )
    row = WeightAttribution(
        time=2.0,
        netuid=1,
        block=9,
        validator_hotkey="v",
        miner_uid=2,
        miner_hotkey="hk",
        weight=1.0,
        by_workload={"rollout": 0.25, "train_shard": 0.75},
    )
    sink.record(event)
    sink.record_attribution([row])
    with sink.path.open("a") as fh:
        fh.write('{"kind": "usage", "request_id": "torn')
    assert sink.read() == [event, row]
    assert json.loads(sink.path.read_text().splitlines()[0])["verified"] is True
    with pytest.raises(ValueError, match="sum to 1"):
        WeightAttribution(**{**row.model_dump(), "by_workload": {"rollout": 0.5}})


def test_tasks_are_fresh_and_valid():
    rng = np.random.default_rng(0)
    policy = TaskPolicy(horizons=(8, 16), context_frames=3, n_actions=5)
    tasks = [draw_task(rng, policy, "ab" * 6, "bf16") for _ in range(20)]
    assert len({t.task_id for t in tasks}) == 20
    assert len({t.context.seed for t in tasks}) == 20
    for t in tasks:
        assert RolloutTask.model_validate_json(t.model_dump_json()) == t
        assert t.horizon in (8, 16) and max(t.actions) < 5 and t.precision == "bf16"


def test_a_forfeit_wipes_a_copiers_credit_at_once():
    ms = MovingScores(alpha=0.2)
    ms.update(7, "copier", 1.0)
    ms.update(8, "honest", 1.0)
    ms.forfeit(7, "copier")
    assert ms.scores[7] == 0.0 and ms.weights() == {8: 1.0}
    ms.update(7, "copier", 0.5)  # later honest work earns from zero again
    assert ms.scores[7] == pytest.approx(0.1)
