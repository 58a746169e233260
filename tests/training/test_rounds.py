"""Round assignment (nobody picks their data) and the outer Nesterov step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wmnet.protocol.shard import ShardData
from wmnet.training import shards
from wmnet.training.aggregate import OuterNesterov


def test_a_shard_follows_from_the_round_and_the_hotkey_only():
    a = shards.assign("round-1", "hotkey-a", 4, 16)
    assert a == shards.assign("round-1", "hotkey-a", 4, 16)  # anyone can recompute it
    assert a.seed != shards.assign("round-1", "hotkey-b", 4, 16).seed
    assert a.seed != shards.assign("round-2", "hotkey-a", 4, 16).seed
    assert shards.new_round_id() != shards.new_round_id()
    assert 0 <= a.seed < 2**63


def test_shards_of_different_seeds_share_no_episode():
    a = shards.load(shards.assign("r", "a", 3, 8), 32)
    b = shards.load(shards.assign("r", "b", 3, 8), 32)
    assert a.frames.shape == (3, 9, 3, 32, 32)
    for i in range(3):
        for j in range(3):
            assert not np.array_equal(a.frames[i], b.frames[j])
    again = shards.load(shards.assign("r", "a", 3, 8), 32)
    assert np.array_equal(a.frames, again.frames)


def test_the_random_control_data_is_nobodys_shard():
    assigned = [shards.assign("r", h, 2, 8) for h in "abc"]
    rng = np.random.default_rng(0)
    control = shards.unassigned(rng, assigned, 2, 8)
    assert isinstance(control, ShardData)
    assert control.seed not in {s.seed for s in assigned}


def test_outer_step_is_torch_sgd_with_nesterov():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(50).astype(np.float32)
    rounds = [[rng.standard_normal(50).astype(np.float32) for _ in range(3)] for _ in range(4)]
    outer = OuterNesterov(lr=0.7, momentum=0.9)
    param = torch.nn.Parameter(torch.from_numpy(theta.copy()))
    opt = torch.optim.SGD([param], lr=0.7, momentum=0.9, nesterov=True)
    ours = theta
    for deltas in rounds:
        ours = outer.step(ours, deltas)
        param.grad = torch.from_numpy(np.mean(deltas, axis=0))
        opt.step()
        np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_no_update_means_no_step():
    theta = np.ones(4, np.float32)
    assert np.array_equal(OuterNesterov().step(theta, []), theta)


@pytest.mark.parametrize("lr,momentum", [(1.0, 0.0), (0.7, 0.9)])
def test_first_step_size(lr, momentum):
    out = OuterNesterov(lr, momentum).step(np.zeros(2, np.float32), [np.ones(2, np.float32)])
    np.testing.assert_allclose(out, -lr * (1 + momentum) * np.ones(2), rtol=1e-6)
