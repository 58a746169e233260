"""ballworld: coloured balls under forces, walls and collisions, rendered with numpy.

Ball 0 is the agent; discrete actions push it. The simulator state (positions,
velocities) is known exactly, so a world model's predicted frames can be scored
against ground-truth object positions, not just pixels. Everything is float64 numpy
with a seeded ``np.random.Generator``: the same seed gives the same bytes on any
machine (no threads, no BLAS in the loop).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from wmnet.worldmodel.envs.episodes import Episodes

# Action ids: what the agent's push does. Kept tiny so a model can learn it quickly.
ACTIONS: tuple[str, ...] = ("noop", "up", "down", "left", "right")
N_ACTIONS = len(ACTIONS)
_PUSH = np.array([[0, 0], [0, -1], [0, 1], [-1, 0], [1, 0]], dtype=np.float64)

BACKGROUND = np.array([16, 16, 40], dtype=np.float64)
# Distinct, saturated colours: the centroid estimator below tells balls apart by colour.
BALL_COLOURS = np.array(
    [[255, 70, 70], [70, 230, 70], [80, 140, 255], [240, 220, 60], [230, 90, 230]],
    dtype=np.float64,
)


@dataclass(frozen=True)
class BallWorldConfig:
    """Physics and rendering knobs. Lengths are in units of the (square) box side."""

    resolution: int = 32
    n_balls: int = 3
    radius: float = 0.1
    push: float = 0.012  # velocity added per step by an action
    friction: float = 0.02  # fraction of velocity lost per step
    max_speed: float = 0.06
    init_speed: float = 0.03
    action_repeat_prob: float = 0.8  # random policy keeps its last action with this prob

    def __post_init__(self) -> None:
        if not 8 <= self.resolution <= 512:
            raise ValueError(f"resolution must be in [8, 512], got {self.resolution}")
        if not 1 <= self.n_balls <= len(BALL_COLOURS):
            raise ValueError(f"n_balls must be in [1, {len(BALL_COLOURS)}], got {self.n_balls}")


class BallWorld:
    """One seeded episode of ballworld."""

    def __init__(self, config: BallWorldConfig, seed: int | tuple[int, ...]) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.pos, self.vel = self._initial_state()

    def _initial_state(self) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        pos = np.zeros((cfg.n_balls, 2))
        for i in range(cfg.n_balls):
            # Rejection sampling for non-overlapping starts; bounded so it always ends.
            for _ in range(1000):
                p = self.rng.uniform(cfg.radius, 1 - cfg.radius, size=2)
                if i == 0 or np.min(np.linalg.norm(pos[:i] - p, axis=1)) > 2.2 * cfg.radius:
                    break
            pos[i] = p
        angle = self.rng.uniform(0, 2 * np.pi, size=cfg.n_balls)
        speed = self.rng.uniform(0, cfg.init_speed, size=cfg.n_balls)
        vel = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
        return pos, vel

    def step(self, action: int) -> None:
        """Advance one step under ``action`` (pushes ball 0)."""
        if not 0 <= int(action) < N_ACTIONS:
            raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}")
        cfg = self.config
        self.vel[0] += cfg.push * _PUSH[int(action)]
        self.vel *= 1.0 - cfg.friction
        speed = np.linalg.norm(self.vel, axis=1, keepdims=True)
        self.vel *= np.minimum(1.0, cfg.max_speed / np.maximum(speed, 1e-12))
        self.pos += self.vel
        self._collide_walls()
        self._collide_balls()

    def _collide_walls(self) -> None:
        r = self.config.radius
        low, high = self.pos < r, self.pos > 1 - r
        self.pos = np.where(low, 2 * r - self.pos, self.pos)
        self.pos = np.where(high, 2 * (1 - r) - self.pos, self.pos)
        self.vel = np.where(low | high, -self.vel, self.vel)

    def _collide_balls(self) -> None:
        # Equal-mass elastic collisions: swap the velocity components along the normal.
        r = self.config.radius
        n = self.config.n_balls
        for i in range(n):
            for j in range(i + 1, n):
                d = self.pos[j] - self.pos[i]
                dist = float(np.linalg.norm(d))
                if dist >= 2 * r or dist == 0.0:
                    continue
                normal = d / dist
                rel = float(np.dot(self.vel[i] - self.vel[j], normal))
                if rel > 0:  # approaching
                    self.vel[i] -= rel * normal
                    self.vel[j] += rel * normal
                overlap = 2 * r - dist
                self.pos[i] -= 0.5 * overlap * normal
                self.pos[j] += 0.5 * overlap * normal
        self.pos = np.clip(self.pos, r, 1 - r)

    def render(self) -> np.ndarray:
        """uint8 ``(3, H, W)`` frame; soft (anti-aliased) disc edges help small resolutions."""
        return render_positions(self.config, self.pos)

    def positions_px(self) -> np.ndarray:
        """Ground-truth ball centres in pixels ``(K, 2)``, x then y."""
        return (self.pos * self.config.resolution).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _pixel_centres(res: int) -> tuple[np.ndarray, np.ndarray]:
    centres = (np.arange(res, dtype=np.float64) + 0.5) / res
    return np.meshgrid(centres, centres)


def render_positions(config: BallWorldConfig, pos: np.ndarray) -> np.ndarray:
    """uint8 ``(3, H, W)`` frame of balls at ``pos`` (``(K, 2)``, box units, x then y)."""
    res = config.resolution
    gx, gy = _pixel_centres(res)
    img = np.broadcast_to(BACKGROUND, (res, res, 3)).copy()
    for i in range(config.n_balls):
        dist = np.hypot(gx - pos[i, 0], gy - pos[i, 1])
        cover = np.clip((config.radius - dist) * res + 0.5, 0.0, 1.0)[..., None]
        img = img * (1 - cover) + BALL_COLOURS[i] * cover
    return np.round(img).astype(np.uint8).transpose(2, 0, 1)


def constant_velocity_positions(
    prev_px: np.ndarray, last_px: np.ndarray, horizon: int, config: BallWorldConfig
) -> np.ndarray:
    """The physics baseline a customer could compute without a world model.

    Each ball keeps the velocity seen between its last two observed positions
    (``(..., K, 2)`` pixels) and bounces off the walls exactly as the simulator does;
    it knows nothing of actions, friction or ball-ball collisions. Returns
    ``(..., horizon, K, 2)`` positions in pixels.
    """
    res = config.resolution
    r = config.radius
    pos = last_px.astype(np.float64) / res
    vel = (last_px.astype(np.float64) - prev_px.astype(np.float64)) / res
    out = np.zeros((*pos.shape[:-2], horizon, *pos.shape[-2:]), dtype=np.float32)
    for t in range(horizon):
        pos = pos + vel
        low, high = pos < r, pos > 1 - r
        pos = np.where(low, 2 * r - pos, pos)
        pos = np.where(high, 2 * (1 - r) - pos, pos)
        vel = np.where(low | high, -vel, vel)
        out[..., t, :, :] = pos * res
    return out


def make_ballworld_episodes(
    n: int, length: int, seed: int, config: BallWorldConfig | None = None
) -> Episodes:
    """``n`` episodes of ``length`` steps under a sticky random policy.

    Episode ``i`` is seeded with ``(seed, i)``, so episode content never depends on
    ``n`` and disjoint seeds give disjoint (held-out) data.
    """
    cfg = config or BallWorldConfig()
    res = cfg.resolution
    frames = np.zeros((n, length + 1, 3, res, res), dtype=np.uint8)
    actions = np.zeros((n, length), dtype=np.int64)
    positions = np.zeros((n, length + 1, cfg.n_balls, 2), dtype=np.float32)
    for i in range(n):
        env = BallWorld(cfg, seed=(seed, i))
        frames[i, 0] = env.render()
        positions[i, 0] = env.positions_px()
        action = int(env.rng.integers(N_ACTIONS))
        for t in range(length):
            if env.rng.random() > cfg.action_repeat_prob:
                action = int(env.rng.integers(N_ACTIONS))
            actions[i, t] = action
            env.step(action)
            frames[i, t + 1] = env.render()
            positions[i, t + 1] = env.positions_px()
    return Episodes(frames=frames, actions=actions, n_actions=N_ACTIONS, positions=positions)


def estimate_positions(frames: np.ndarray, n_balls: int) -> np.ndarray:
    """Ball centres ``(..., K, 2)`` in pixels, from (possibly predicted) uint8 frames.

    Colour-weighted centroid: each pixel votes for ball k by how close its colour is to
    ball k's colour. Works on blurry model output where a hard threshold would not. A
    ball with no votes is placed at the frame centre (a large, honest error).
    """
    img = frames.astype(np.float64)  # (..., 3, H, W)
    h, w = img.shape[-2:]
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    out = np.zeros((*img.shape[:-3], n_balls, 2), dtype=np.float32)
    for k in range(n_balls):
        colour = BALL_COLOURS[k].reshape(3, 1, 1)
        dist = np.linalg.norm(img - colour, axis=-3)  # (..., H, W)
        weight = np.clip(1.0 - dist / 120.0, 0.0, None)
        total = weight.sum(axis=(-2, -1))
        safe = np.maximum(total, 1e-9)
        cx = np.where(total > 1e-6, (weight * xs).sum(axis=(-2, -1)) / safe, w / 2)
        cy = np.where(total > 1e-6, (weight * ys).sum(axis=(-2, -1)) / safe, h / 2)
        out[..., k, 0] = cx
        out[..., k, 1] = cy
    return out
