"""Gauntlet scoring on real updates of the shipped model: an honest update ranks above
a random one, a zero one, a lazy (tiny random) one and a copy, and the copy is flagged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from wmnet.protocol.shard import InnerHyper
from wmnet.training import params, shards
from wmnet.training.compress import Compressed, compress
from wmnet.training.inner import Latents, encode
from wmnet.training.scoring import (
    Evaluator,
    GauntletConfig,
    find_copies,
    overlap,
    round_scores,
)
from wmnet.training.worker import new_feedback, train_shard
from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.model import WorldModel

pytestmark = pytest.mark.slow

HYPER = InnerHyper(inner_steps=8, batch=4, seq_len=6, lr=1e-3)
CFG = GauntletConfig(seq_len=6)


@dataclass
class Round:
    base: WorldModel
    data: dict[str, Latents]  # each miner's assigned data
    random: Latents
    updates: dict[str, Compressed]


def _assigned(base: WorldModel, hotkey: str):
    return shards.assign("test-round", hotkey, 4, 16)


@pytest.fixture(scope="module")
def round_() -> Round:
    base = load_default()
    n = params.count(base)
    rng = np.random.default_rng(0)
    data, updates = {}, {}
    for who in ("honest", "honest2", "random", "zero", "lazy", "copy"):
        data[who] = encode(base, shards.load(_assigned(base, who), 32))
    for who in ("honest", "honest2"):
        out = train_shard(base, _assigned(base, who), HYPER, new_feedback(base, HYPER))
        updates[who] = Compressed.from_bytes(out.data, expect_n=n)
    scale = float(np.abs(updates["honest"].values()).mean())
    noise = rng.standard_normal(n).astype(np.float32)
    random = compress(noise, HYPER.density).dense()
    random *= scale / np.abs(random[random != 0]).mean()
    updates["random"] = compress(random, HYPER.density)
    updates["zero"] = compress(np.zeros(n, np.float32), HYPER.density)
    tiny = rng.standard_normal(n).astype(np.float32) * np.float32(1e-6)
    updates["lazy"] = compress(tiny, HYPER.density)
    updates["copy"] = Compressed.from_bytes(updates["honest"].to_bytes())
    control = shards.unassigned(rng, [_assigned(base, w) for w in data], 4, 16)
    return Round(base, data, encode(base, shards.load(control, 32)), updates)


def test_honest_ranks_above_random_zero_lazy_and_copy(round_):
    who = list(round_.updates)
    uid = {w: i for i, w in enumerate(who)}
    ev = Evaluator(round_.base, CFG)
    measured = {
        w: ev.gauntlet(round_.updates[w].dense(), round_.data[w], round_.random) for w in who
    }
    honest = measured["honest"]
    assert honest.after_assigned < honest.before_assigned  # it trained on its data
    assert honest.gain_assigned > honest.gain_random  # ... more than on anyone's
    assert measured["zero"].gain_assigned == 0.0 and measured["zero"].raw_score(CFG) == 0.0
    assert measured["lazy"].raw_score(CFG) == 0.0
    assert measured["random"].raw_score(CFG) < honest.raw_score(CFG)
    copies = find_copies(
        {uid[w]: round_.updates[w] for w in who},
        {uid[w]: m.gain_assigned for w, m in measured.items()},
        {uid[w]: 1.0 + (w == "copy") for w in who},  # the copy was stored later
        CFG.copy_overlap,
    )
    assert copies == {uid["copy"]: uid["honest"]}
    raw = {uid[w]: (0.0 if uid[w] in copies else m.raw_score(CFG)) for w, m in measured.items()}
    scores = round_scores(raw)
    assert scores[uid["honest"]] > 0
    for cheat in ("random", "zero", "lazy", "copy"):
        assert scores[uid["honest"]] > scores[uid[cheat]], cheat
    assert scores[uid["zero"]] == scores[uid["lazy"]] == scores[uid["copy"]] == 0.0
    assert max(scores.values()) == 1.0


def test_honest_updates_barely_overlap_a_copy_fully(round_):
    u = round_.updates
    assert overlap(u["honest"], u["copy"]) == 1.0
    assert overlap(u["honest"], u["honest2"]) < 0.25  # measured ~0.05
    assert overlap(u["honest"], u["random"]) < 0.25


def test_copy_authorship_goes_to_the_update_that_fits_its_own_data(round_):
    u = round_.updates
    ev = Evaluator(round_.base, CFG)
    dense = u["honest"].dense()
    gains = {
        0: ev.gauntlet(dense, round_.data["honest"], round_.random).gain_assigned,
        1: ev.gauntlet(dense, round_.data["copy"], round_.random).gain_assigned,
    }
    times = {0: 1.0, 1: 1.0}  # stored together: the fit decides
    expected_author = max(gains, key=gains.get)
    copies = find_copies({0: u["honest"], 1: u["copy"]}, gains, times, CFG.copy_overlap)
    assert copies == {1 - expected_author: expected_author}


def test_a_non_finite_update_scores_zero(round_):
    bad = np.full(params.count(round_.base), np.nan, np.float32)
    g = Evaluator(round_.base, CFG).gauntlet(bad, round_.data["honest"], round_.random)
    assert g.raw_score(CFG) == 0.0
