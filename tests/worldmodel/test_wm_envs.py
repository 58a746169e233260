from __future__ import annotations

import numpy as np
import pytest

from wmnet.worldmodel.envs.atari import ale_available
from wmnet.worldmodel.envs.ballworld import (
    N_ACTIONS,
    BallWorld,
    BallWorldConfig,
    constant_velocity_positions,
    estimate_positions,
    make_ballworld_episodes,
    render_positions,
)


def test_ballworld_seeded_and_shaped():
    cfg = BallWorldConfig(resolution=16)
    a = make_ballworld_episodes(2, 6, seed=1, config=cfg)
    b = make_ballworld_episodes(2, 6, seed=1, config=cfg)
    c = make_ballworld_episodes(2, 6, seed=2, config=cfg)
    assert a.frames.shape == (2, 7, 3, 16, 16) and a.frames.dtype == np.uint8
    assert a.actions.shape == (2, 6) and a.actions.max() < N_ACTIONS
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.frames.tobytes() != c.frames.tobytes()
    # Episode content does not depend on how many episodes are drawn.
    one = make_ballworld_episodes(1, 6, seed=1, config=cfg)
    assert one.frames[0].tobytes() == a.frames[0].tobytes()
    t = a.transitions()
    assert t.frames.shape == (12, 3, 16, 16)
    assert np.array_equal(t.next_frames[0], a.frames[0, 1])


def test_actions_push_the_agent():
    cfg = BallWorldConfig(resolution=32, n_balls=1, init_speed=0.0, friction=0.0)
    env = BallWorld(cfg, seed=0)
    x0 = env.pos[0, 0]
    for _ in range(3):
        env.step(4)  # right
    assert env.pos[0, 0] > x0
    with pytest.raises(ValueError, match="action"):
        env.step(N_ACTIONS)


def test_position_estimate_matches_ground_truth():
    eps = make_ballworld_episodes(4, 10, seed=3)
    est = estimate_positions(eps.frames, eps.positions.shape[2])
    assert np.abs(est - eps.positions).max() < 0.5  # pixels


@pytest.mark.skipif(not ale_available(), reason="ale-py not installed (pip install 'wmnet[atari]')")
def test_atari_adapter_deterministic():
    from wmnet.worldmodel.envs.atari import AtariConfig, make_atari_episodes

    cfg = AtariConfig(game="pong", resolution=32)
    a = make_atari_episodes(1, 8, seed=0, config=cfg)
    b = make_atari_episodes(1, 8, seed=0, config=cfg)
    assert a.frames.shape == (1, 9, 3, 32, 32) and a.frames.dtype == np.uint8
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.actions.max() < a.n_actions


def test_constant_velocity_matches_a_frictionless_free_ball():
    """With no friction, no pushes and one ball, the baseline *is* the simulator."""
    cfg = BallWorldConfig(n_balls=1, friction=0.0, push=0.0, init_speed=0.06)
    env = BallWorld(cfg, seed=3)
    track = [env.positions_px()]
    for _ in range(40):  # long enough to bounce off walls at this speed
        env.step(0)
        track.append(env.positions_px())
    track = np.stack(track)
    cv = constant_velocity_positions(track[0], track[1], 39, cfg)
    assert np.abs(cv - track[2:]).max() < 1e-3
    bounced = np.diff(np.sign(np.diff(track[:, 0, 0]))).any()
    assert bounced or np.diff(np.sign(np.diff(track[:, 0, 1]))).any()


def test_render_positions_is_the_environment_renderer():
    env = BallWorld(BallWorldConfig(), seed=5)
    env.step(2)
    assert np.array_equal(render_positions(env.config, env.pos), env.render())
