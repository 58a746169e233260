"""Audit draws, the per-miner floor, the budget's rate, penalty windows, tempo scores."""

from __future__ import annotations

import pytest

from wmnet.validator.audits import AuditPolicy, AuditSampler, TempoAudits, answer_key
from wmnet.validator.outcomes import MinerOutcome, Reason, usage_event
from wmnet.validator.penalties import PenaltyBook
from wmnet.validator.scoring import TempoWork
from wmnet.validator.state import load_state, save_state
from wmnet.validator.targets import MinerTarget


def _key(i: int) -> bytes:
    return answer_key(f"task{i:08d}", [f"{i:064x}"])


def test_draws_follow_the_rate_and_depend_on_the_secret():
    a, b = AuditSampler(b"a" * 32), AuditSampler(b"b" * 32)
    picks_a = [a.chosen(_key(i), 0.1) for i in range(5000)]
    picks_b = [b.chosen(_key(i), 0.1) for i in range(5000)]
    assert 0.08 < sum(picks_a) / 5000 < 0.12
    assert picks_a == [a.chosen(_key(i), 0.1) for i in range(5000)]  # reproducible
    assert picks_a != picks_b  # another secret, other answers audited
    assert not any(a.chosen(_key(i), 0.0) for i in range(100))
    assert all(a.chosen(_key(i), 1.0) for i in range(100))
    # The same task answered differently draws again: the answer is part of the key.
    assert answer_key("t" * 8, ["0" * 64]) != answer_key("t" * 8, ["1" * 64])


def test_the_floor_audits_every_miner_that_answered_once_per_tempo():
    audits = TempoAudits(AuditPolicy(rate=0.0, floor=1), AuditSampler(b"s" * 32))
    for i in range(30):
        assert not audits.observe(f"hk{i % 3}", _key(i), i, units=16)
    due = audits.close()
    assert sorted(hk for hk, _ in due) == ["hk0", "hk1", "hk2"]
    assert all(item % 3 == int(hk[2]) for hk, item in due)  # each its own answer
    assert audits.close() == []  # a new tempo starts empty


def test_the_floor_picks_answers_uniformly():
    counts = [0] * 8
    for trial in range(800):
        audits = TempoAudits(
            AuditPolicy(rate=0.0, floor=1),
            AuditSampler(bytes([trial % 256]) * 16 + trial.to_bytes(16, "big")),
        )
        for i in range(8):
            audits.observe("hk", _key(1000 * trial + i), i, units=1)
        ((_, item),) = audits.close()
        counts[item] += 1
    assert min(counts) > 60 and max(counts) < 150, counts


def test_sampled_audits_count_towards_the_floor():
    audits = TempoAudits(AuditPolicy(rate=1.0, floor=2), AuditSampler())
    assert audits.observe("hk", _key(0), 0, units=4)
    assert audits.observe("hk", _key(1), 1, units=4)
    assert audits.close() == []


def test_a_budget_sets_the_next_tempos_rate_after_the_floor():
    policy = AuditPolicy(rate=0.05, floor=1, budget_s=10.0)
    audits = TempoAudits(policy, AuditSampler(b"x" * 32))
    for i in range(100):  # 100 answers of 10 units from 4 miners
        audits.observe(f"hk{i % 4}", _key(i), i, units=10)
    audits.measured(seconds=1.0, units=10)  # 0.1 s per unit: 1 s per answer
    audits.close()
    # 10 s buys 10 answers' checks; the floor takes 4: 6 of 100 answers.
    assert audits.rate == pytest.approx(0.06)
    with pytest.raises(ValueError):
        AuditPolicy(rate=1.5)


def test_penalties_escalate_and_survive_a_restart_by_hotkey(tmp_path):
    book = PenaltyBook()
    first = book.penalize("hkA", "rollout", "outside_tolerance", 100, 11, 20, 160)
    assert (first.until_block, first.strikes) == (100 + 20 * 11, 1)
    assert book.penalize("hkA", "rollout", "outside_tolerance", 150, 11, 20, 160) is first
    assert book.penalized({3: "hkA", 4: "hkB"}, 200) == {3}
    assert book.penalized({3: "hkA"}, first.until_block) == set()
    second = book.penalize("hkA", "rollout", "outside_tolerance", 400, 11, 20, 160)
    assert (second.until_block, second.strikes) == (400 + 40 * 11, 2)

    path = tmp_path / "state.json"
    state = load_state(path, netuid=1, alpha=0.2)
    state.penalties = book
    save_state(state, path)
    again = load_state(path, netuid=1, alpha=0.2)
    # Re-registered under another UID, the same hotkey is still penalized.
    assert again.penalties.penalized({9: "hkA"}, 500) == {9}


def test_tempo_scores_follow_delivered_units_weighted_by_latency():
    work = TempoWork()
    work.add(1, "a", 16, latency_s=1.0, deadline_s=10.0, accepted=True)
    work.add(1, "a", 16, latency_s=1.0, deadline_s=10.0, accepted=True)
    work.add(2, "b", 16, latency_s=10.0, deadline_s=10.0, accepted=True)  # at the deadline
    work.add(3, "c", 16, latency_s=1.0, deadline_s=10.0, accepted=False)
    work.add(4, "d", 16, latency_s=11.0, deadline_s=10.0, accepted=True)  # late
    assert work.scores() == {1: 1.0, 2: 0.25, 3: 0.0, 4: 0.0}


def test_one_usage_builder_and_fraud_reasons():
    target = MinerTarget(5, "hk", "127.0.0.1:1")
    ok = MinerOutcome(target, "req00001", Reason.OK, units=16, device_seconds=0.5)
    bad = MinerOutcome(target, "req00002", Reason.UNBOUND, "digests", units=16)
    e_ok = usage_event(ok, workload="rollout", origin="synthetic", netuid=1, validator_hotkey="v")
    e_bad = usage_event(bad, workload="rollout", origin="organic", netuid=1, validator_hotkey="v")
    assert (e_ok.units, e_ok.verified, e_ok.reason) == (16, True, "ok")
    assert (e_bad.units, e_bad.verified, e_bad.reason) == (0, False, "unbound: digests")
    assert Reason.OUTSIDE_TOLERANCE.fraud and Reason.COPY.fraud
    assert not any(r.fraud for r in (Reason.TIMEOUT, Reason.LATE, Reason.MALFORMED, Reason.UNBOUND))


def test_a_tempo_folds_work_into_scores_and_leaves_penalized_miners_out(tmp_path):
    from types import SimpleNamespace

    from wmnet.validator.rollouts import Delivery
    from wmnet.validator.tempo import Tempo

    state = load_state(tmp_path / "s.json", netuid=1, alpha=0.5)
    tempo = Tempo(state)
    neurons = [
        SimpleNamespace(uid=u, hotkey=f"hk{u}", axon=f"127.0.0.1:{9000 + u}") for u in (1, 2)
    ]
    graph = SimpleNamespace(neurons=neurons, block=50, last_step=44)
    for uid in (1, 2):
        target = MinerTarget(uid, f"hk{uid}", f"127.0.0.1:{9000 + uid}")
        outcome = MinerOutcome(target, f"req{uid:05d}", Reason.OK, units=16, latency_s=1.0,
                               deadline_s=10.0)  # fmt: skip
        tempo.add(Delivery(outcome, None, None))  # type: ignore[arg-type]
    assert [t.uid for t in tempo.candidates(graph, "me")] == [1, 2]  # before any fold
    state.penalties.penalize("hk2", "rollout", "outside_tolerance", 45, 11, 20, 160)
    tempo.forfeit(2, "hk2")
    tempo.fold(graph)
    assert state.scores.scores == {1: 1.0, 2: 0.0} and state.tempo_step == 44
    assert [t.uid for t in tempo.candidates(graph, "me")] == [1]
    assert tempo.averages(graph)["rollout"].weights() == {1: 1.0}
