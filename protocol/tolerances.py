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


# Largest honest errors measured (steps or context, whichever larger; 1,350 honest
# rollouts at horizons 16, 64 and 256, `wmnet bench verify`), and the bound set:
#   fp32  max_abs 1.2e-5 (context; steps 3.8e-6)  rms 7.5e-7  -> 1e-4,   1e-5
#   bf16  max_abs 1.14e-2                         rms 1.47e-3 -> 2.5e-2, 3e-3
#   int8  max_abs 6.7e-3                          rms 1.07e-3 -> 1.5e-2, 2.5e-3
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs=1e-4, rms=1e-5),
    "bf16": Tolerance(max_abs=2.5e-2, rms=3e-3),
    "int8": Tolerance(max_abs=1.5e-2, rms=2.5e-3),
}
assert set(TOLERANCES) == set(PRECISIONS)
