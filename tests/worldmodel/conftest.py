"""Shared fixtures: a tiny untrained model at 16x16 and matching ballworld episodes."""

from __future__ import annotations

import pytest
import torch

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.envs.ballworld import BallWorldConfig, make_ballworld_episodes
from wmnet.worldmodel.model import WorldModel


@pytest.fixture(scope="session")
def tiny_cfg() -> ModelConfig:
    return ModelConfig(
        resolution=16,
        d_model=32,
        n_layers=2,
        n_heads=2,
        ae_width=16,
        window_frames=2,
        spatial_radius=1,
    )


@pytest.fixture(scope="session")
def tiny_model(tiny_cfg: ModelConfig) -> WorldModel:
    torch.manual_seed(0)
    model = WorldModel(tiny_cfg).eval()
    # The head starts at zero (identity dynamics); give it weights so that every
    # test below would notice a wrong mask, cache or precision.
    torch.nn.init.normal_(model.dynamics.head.weight, std=0.2)
    return model


@pytest.fixture(scope="session")
def tiny_episodes():
    return make_ballworld_episodes(3, 12, seed=5, config=BallWorldConfig(resolution=16))
