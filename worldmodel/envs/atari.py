"""Atari adapter over ``ale-py`` (optional extra: ``pip install 'wmnet[atari]'``).

ROMs ship inside the ale-py wheel. Seeding fixes both the emulator and its sticky
actions (``repeat_action_probability``), so an episode is reproducible from its seed.
Frames are RGB, resized by area-averaging to a square ``resolution`` and returned in
the same :class:`Episodes` layout as ballworld (no ground-truth positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmnet.worldmodel.envs.episodes import Episodes


def ale_available() -> bool:
    try:
        import ale_py  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class AtariConfig:
    game: str = "pong"
    resolution: int = 64
    frameskip: int = 4
    repeat_action_probability: float = 0.25  # the ALE v5 default ("sticky actions")
    action_repeat_prob: float = 0.8  # sticky random policy, as in ballworld


def _resize(frame: np.ndarray, res: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, res, res) uint8 by averaging the pixels each output covers."""
    h, w, _ = frame.shape
    ys = np.linspace(0, h, res + 1).astype(int)
    xs = np.linspace(0, w, res + 1).astype(int)
    f = frame.astype(np.float64)
    # Integral image: each output pixel is the mean of its source rectangle.
    ii = np.zeros((h + 1, w + 1, 3))
    ii[1:, 1:] = f.cumsum(0).cumsum(1)
    y0, y1 = ys[:-1, None], np.maximum(ys[1:], ys[:-1] + 1)[:, None]
    x0, x1 = xs[None, :-1], np.maximum(xs[1:], xs[:-1] + 1)[None, :]
    total = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
    area = ((y1 - y0) * (x1 - x0))[..., None]
    return np.round(total / area).clip(0, 255).astype(np.uint8).transpose(2, 0, 1)


class AtariEnv:
    """One seeded ALE emulator; actions are indices into the game's minimal action set."""

    def __init__(self, config: AtariConfig, seed: int) -> None:
        try:
            from ale_py import ALEInterface, roms
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError("the Atari adapter needs ale-py: pip install 'wmnet[atari]'") from exc
        self.config = config
        self.ale = ALEInterface()
        self.ale.setInt("random_seed", int(seed) % (2**31))
        self.ale.setFloat("repeat_action_probability", float(config.repeat_action_probability))
        self.ale.setInt("frame_skip", 1)  # we skip frames ourselves and sum rewards
        quiet = ale_logger_error()
        if quiet is not None:
            ALEInterface.setLoggerMode(quiet)
        self.ale.loadROM(roms.get_rom_path(config.game))
        self.action_set = list(self.ale.getMinimalActionSet())
        self.ale.reset_game()

    @property
    def n_actions(self) -> int:
        return len(self.action_set)

    def render(self) -> np.ndarray:
        return _resize(self.ale.getScreenRGB(), self.config.resolution)

    def step(self, action: int) -> float:
        if not 0 <= int(action) < self.n_actions:
            raise ValueError(f"action must be in [0, {self.n_actions}), got {action}")
        reward = 0.0
        for _ in range(self.config.frameskip):
            reward += self.ale.act(self.action_set[int(action)])
        if self.ale.game_over():
            self.ale.reset_game()
        return reward


def ale_logger_error():  # pragma: no cover - depends on the extra
    """The ALE's quiet logger mode, if this ale-py version has one."""
    try:
        from ale_py import LoggerMode

        return LoggerMode.Error
    except ImportError:
        return None


def make_atari_episodes(
    n: int, length: int, seed: int, config: AtariConfig | None = None
) -> Episodes:
    """``n`` episodes of ``length`` steps under a sticky random policy; episode i uses (seed, i)."""
    cfg = config or AtariConfig()
    res = cfg.resolution
    frames = np.zeros((n, length + 1, 3, res, res), dtype=np.uint8)
    actions = np.zeros((n, length), dtype=np.int64)
    n_actions = 0
    for i in range(n):
        rng = np.random.default_rng((seed, i))
        env = AtariEnv(cfg, seed=int(rng.integers(2**31)))
        n_actions = env.n_actions
        frames[i, 0] = env.render()
        action = int(rng.integers(n_actions))
        for t in range(length):
            if rng.random() > cfg.action_repeat_prob:
                action = int(rng.integers(n_actions))
            actions[i, t] = action
            env.step(action)
            frames[i, t + 1] = env.render()
    return Episodes(frames=frames, actions=actions, n_actions=n_actions, positions=None)
