"""The rollout engine: loaded models, task checks, and one batched rollout call.

Models are loaded once per (model id, precision) at start-up (``wmnet.worldmodel.quant
.quantize`` derives bf16/int8 from the content-checked fp32 checkpoint) and never
again per request. A batch is tasks that agree on model, precision, horizon and
context length, so their inputs stack into one ``wmnet.worldmodel.rollout.rollout``
call (KV cache on, sparse attention on, as the validator's reference runs); only the
rows that asked for frames are decoded. Each answer's digests are computed from the
exact float32 array that is sent, so they bind it (``wmnet.protocol.digest``).
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np
import torch

from wmnet.miner.errors import MinerError, invalid
from wmnet.protocol.digest import step_digests
from wmnet.protocol.rollout import RolloutTask, SeededContext
from wmnet.worldmodel.checkpoint import ModelRegistry, default_model_id, load_checkpoint_file
from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.contexts import context_arrays
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.quant import quantize
from wmnet.worldmodel.rollout import RolloutOptions, rollout, to_uint8

# Attention backends a miner may pick (``wmnet.worldmodel.attention.attend``). The
# default is "sdpa" on every device: "auto" picks FlexAttention on CUDA, compiled per
# key length, and cached decoding grows the key length every step, so it recompiles
# until dynamo's recompile limit and then runs unfused (measured on an H100: a
# horizon-16 serve benchmark did not finish in 90 s). "sdpa" is the CPU reference's path.
ATTENTION_BACKENDS: tuple[str, ...] = ("sdpa", "auto", "flex")


def rollout_options(attention: str = "sdpa") -> RolloutOptions:
    """How the miner runs (never what it computes): KV cache and the sparse pattern, as
    the validator's reference runs, frames decoded separately for the rows that ask."""
    if attention not in ATTENTION_BACKENDS:
        raise ValueError(f"attention backend must be one of {ATTENTION_BACKENDS}")
    return RolloutOptions(kv_cache=True, sparse=True, decode=False, backend=attention)


@dataclass(frozen=True)
class BatchKey:
    """Tasks with equal keys stack into one rollout call."""

    model_id: str  # the full sha256 of the checkpoint
    precision: str
    horizon: int
    n_context: int


@dataclass(frozen=True)
class Prepared:
    """A checked task, as arrays ready to stack."""

    key: BatchKey
    frames: np.ndarray  # (C, 3, H, W) uint8
    context_actions: np.ndarray  # (C - 1,) int64
    actions: np.ndarray  # (T,) int64
    return_frames: bool


@dataclass(frozen=True)
class Output:
    context_latents: np.ndarray  # (C, c, g, g) float32
    latents: np.ndarray  # (T, c, g, g) float32
    frames: np.ndarray | None  # (T, 3, H, W) uint8
    digests: list[str]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda":
        # TF32 rounds fp32 matmul/conv inputs to 10 mantissa bits; an fp32 answer must sit
        # within the fp32 tolerance of the validator's reference. (Measured on an H100 with
        # cuDNN's default TF32: 9.5e-4 max |latent| gap to the CPU over 16 free steps.)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """The accelerator's (or CPU's) model name, as ``lscpu``/``nvidia-smi`` show it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class RolloutEngine:
    def __init__(
        self,
        models: dict[str, dict[str, WorldModel]],
        device: torch.device,
        attention: str = "sdpa",
    ) -> None:
        if not models:
            raise ValueError("the engine needs at least one model")
        self.models = models
        self.device = device
        self.options = rollout_options(attention)
        self.device_kind = device.type
        self.device_name = device_name(device)[:128]
        first = next(iter(models.values()))
        self.precisions = tuple(first)

    @classmethod
    def load(
        cls,
        model_ids: tuple[str, ...] = (),
        model_dirs: tuple[str, ...] = (),
        precisions: tuple[str, ...] = ("fp32",),
        device: str = "auto",
        attention: str = "sdpa",
    ) -> RolloutEngine:
        """Load each model (content-checked) once, then derive each precision from it."""
        dev = resolve_device(device)
        registry = ModelRegistry(list(model_dirs))
        models: dict[str, dict[str, WorldModel]] = {}
        for model_id in model_ids or (default_model_id(),):
            fp32, info = load_checkpoint_file(registry.find(model_id), expected_id=model_id)
            fp32 = fp32.to(dev).eval()
            models[info.model_id] = {p: quantize(fp32, p).eval() for p in precisions}
        return cls(models, dev, attention)

    @property
    def model_ids(self) -> list[str]:
        return list(self.models)

    @property
    def device_label(self) -> str:
        """What a result's ``device`` field says: kind and model name."""
        return f"{self.device_kind}:{self.device_name}"[:128]

    def config(self, model_id: str) -> ModelConfig:
        return self.models[model_id][self.precisions[0]].cfg

    def resolve(self, model_id: str) -> str:
        """The loaded full id a task's id (full, or a prefix of >= 12 hex) names; else 404."""
        hits = [m for m in self.models if m.startswith(model_id)]
        if len(hits) != 1:
            raise MinerError(404, "unknown_model", f"this miner does not serve model {model_id}")
        return hits[0]

    def prepare(self, task: RolloutTask) -> Prepared:
        """Check a task against what is loaded; 404 / 400 with the reason otherwise."""
        model_id = self.resolve(task.model_id)
        if task.precision not in self.precisions:
            raise MinerError(
                400,
                "unsupported",
                f"precision {task.precision} is not served here (serving {list(self.precisions)})",
            )
        cfg = self.config(model_id)
        try:
            frames, context_actions = context_arrays(task.context, cfg)
        except ValueError as error:
            raise invalid(str(error)) from None
        actions = np.asarray(task.actions, dtype=np.int64)
        if int(actions.max()) >= cfg.n_actions:
            raise invalid(f"actions must lie in [0, {cfg.n_actions}) for this model")
        key = BatchKey(model_id, task.precision, task.horizon, int(frames.shape[0]))
        return Prepared(key, frames, context_actions, actions, task.return_frames)

    def run(self, key: BatchKey, items: list[Prepared]) -> list[Output]:
        """One rollout call for a batch of compatible tasks (the scheduler's worker thread)."""
        model = self.models[key.model_id][key.precision]
        result = rollout(
            model,
            np.stack([p.frames for p in items]),
            np.stack([p.context_actions for p in items]).reshape(len(items), key.n_context - 1),
            np.stack([p.actions for p in items]),
            self.options,
        )
        latents = result.latents.numpy().astype(np.float32, copy=False)
        context = result.context_latents.numpy().astype(np.float32, copy=False)
        frames = self._decode(model, latents, [p.return_frames for p in items])
        return [
            Output(
                context_latents=np.ascontiguousarray(context[i]),
                latents=np.ascontiguousarray(latents[i]),
                frames=frames.get(i),
                digests=step_digests(latents[i]),
            )
            for i in range(len(items))
        ]

    @torch.inference_mode()
    def _decode(
        self, model: WorldModel, latents: np.ndarray, wanted: list[bool]
    ) -> dict[int, np.ndarray]:
        rows = [i for i, w in enumerate(wanted) if w]
        if not rows:
            return {}
        z = torch.from_numpy(latents[rows]).to(self.device)
        decoded = to_uint8(model.decode(z)).cpu().numpy()
        return {row: decoded[j] for j, row in enumerate(rows)}

    def warmup(self, horizon: int = 4) -> float:
        """Run each model once (first-call costs out of the way); seconds per step."""
        per_step = 0.0
        for model_id, by_precision in self.models.items():
            cfg = by_precision[self.precisions[0]].cfg
            ctx = SeededContext(seed=0, n_frames=2)
            frames, ctx_actions = context_arrays(ctx, cfg)
            for precision in by_precision:
                key = BatchKey(model_id, precision, horizon, 2)
                item = Prepared(key, frames, ctx_actions, np.zeros(horizon, np.int64), False)
                self.run(key, [item])  # the first call pays one-off costs; time the second
                start = time.perf_counter()
                self.run(key, [item])
                per_step = max(per_step, (time.perf_counter() - start) / horizon)
        return per_step
