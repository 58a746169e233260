"""How far an honest answer may sit from the validator's reference, per precision.

The check (``wmnet.worldmodel.verify``): for each predicted step ``t`` the validator
recomputes ``z_ref[t]`` from the miner's *own* history ``z[..t-1]`` (teacher forcing,
so honest drift never compounds) with its fp32 reference model, and compares
``d = z_miner[t] - z_ref[t]`` in absolute latent units (latents are tanh-bounded to
[-1, 1]; ``d`` has ``c * g * g`` = 512 values for the shipped model). A step passes when
``max|d| <= max_abs`` and ``rms(d) = sqrt(mean(d**2)) <= rms``. Context latents are
checked against the validator's own encoding of the context frames with the same bounds
(the autoencoder is fp32 at every precision). An answer passes when its context and
every checked step pass.

The numbers are calibrated, not guessed: ``docs/validator.md`` ("Verification and
tolerances") shows the measured spread of honest answers (the shipped model; fp32, bf16
and int8 as ``wmnet.worldmodel.quant`` builds them; torch threads 1 and 2, batch 1 and
16, deterministic mode on and off, KV cache; CPU) and of faked steps, and each bound sits
about 2x above the largest honest error seen (fp32: 8x and more, leaving room for other
devices' fp32 kernels). fp32 means fp32: TF32 matmuls or convolutions are not fp32 and
are not covered. The absolute metric was kept over one normalised by the reference's
predicted change ``|z_ref[t] - z[t-1]|``: measured, the normalised one separated faked
steps from honest bf16 noise no better (docs/validator.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from wmnet.protocol.spec import PRECISIONS


@dataclass(frozen=True)
class Tolerance:
    max_abs: float
    rms: float


# Largest honest errors measured for the shipped model (steps or context, whichever
# larger; `wmnet bench verify`: 96 honest rollouts at horizon 16, 96 at 64 and 32 at
# 256, every precision, threads, batch and deterministic mode cycled), and the bound set:
#   fp32  max_abs 2.8e-6   rms 4.3e-7   -> 1e-4,  1e-5
#   bf16  max_abs 5.6e-2   rms 7.7e-3   -> 0.11,  1.6e-2
#   int8  max_abs 2.2e-2   rms 3.9e-3   -> 5e-2,  1e-2   (none measured at 256)
# The smallest error of a faked step in the same runs: max_abs 0.17, rms 3.4e-2
# (extrapolation), so every precision still rejects every faked step measured. The
# previous model's honest bf16/int8 errors were half of these (docs/validator.md).
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs=1e-4, rms=1e-5),
    "bf16": Tolerance(max_abs=0.11, rms=1.6e-2),
    "int8": Tolerance(max_abs=5e-2, rms=1e-2),
}
assert set(TOLERANCES) == set(PRECISIONS)

# The context latents are the autoencoder's, which runs fp32 at every precision: they
# are held to fp32's bound whatever precision the miner declares (honest context error
# 1.2e-5 max_abs, 7.5e-7 rms at every precision, docs/validator.md). With the looser
# bf16 bound a context shifted by 0.05 everywhere would have passed.
CONTEXT_TOLERANCE = TOLERANCES["fp32"]
