"""Episode sources by environment name, with fixed train / held-out seed ranges."""

from __future__ import annotations

from wmnet.worldmodel.envs.episodes import Episodes

# Held-out episodes use a seed far from any training seed: ballworld seeds episode i
# with (seed, i), so different first components never share an episode.
HELDOUT_SEED_OFFSET = 1_000_003


def make_episodes(env: str, n: int, length: int, seed: int, resolution: int) -> Episodes:
    if env == "ballworld":
        from wmnet.worldmodel.envs.ballworld import BallWorldConfig, make_ballworld_episodes

        return make_ballworld_episodes(n, length, seed, BallWorldConfig(resolution=resolution))
    if env.startswith("atari"):
        from wmnet.worldmodel.envs.atari import AtariConfig, make_atari_episodes

        game = env.split(":", 1)[1] if ":" in env else "pong"
        return make_atari_episodes(n, length, seed, AtariConfig(game=game, resolution=resolution))
    raise ValueError(f"unknown env {env!r}: use 'ballworld' or 'atari[:game]'")
