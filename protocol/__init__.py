"""wmnet's wire protocol: pydantic models, limits, the digest and tolerances.

Pure data: no network or disk I/O. Miner, validator and gateway import the same
models, so one ``SPEC_VERSION`` says which protocol both sides speak.
"""

from wmnet.protocol.arrays import Array
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.errors import ErrorBody
from wmnet.protocol.rollout import FramesContext, RolloutResult, RolloutTask, SeededContext, Timing
from wmnet.protocol.spec import SPEC_VERSION
from wmnet.protocol.tolerances import TOLERANCES, Tolerance

__all__ = [
    "SPEC_VERSION",
    "TOLERANCES",
    "Array",
    "CapacityReport",
    "ErrorBody",
    "FramesContext",
    "RolloutResult",
    "RolloutTask",
    "SeededContext",
    "Timing",
    "Tolerance",
]
