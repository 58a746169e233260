"""Arrays on the wire: dtype, shape and base64 of the raw little-endian bytes.

Exact (no decimal round trip), about 1.33 bytes per byte, and checked before use: the
decoded length must equal ``prod(shape) * itemsize`` and stay under
``MAX_ARRAY_BYTES``. Float arrays may carry NaN or inf on the wire; whoever uses the
numbers decides (a validator scores a non-finite answer 0).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wmnet.protocol.spec import MAX_ARRAY_BYTES

ArrayDType = Literal["float32", "uint8"]
_NUMPY_DTYPES: dict[str, np.dtype] = {"float32": np.dtype("<f4"), "uint8": np.dtype("u1")}
_MAX_B64_CHARS = 4 * ((MAX_ARRAY_BYTES + 2) // 3)


class Array(BaseModel):
    """``{"dtype": "float32", "shape": [T, c, g, g], "data": "<base64>"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dtype: ArrayDType
    shape: tuple[int, ...] = Field(min_length=1, max_length=6)
    data: str = Field(max_length=_MAX_B64_CHARS)

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 or d > MAX_ARRAY_BYTES for d in shape):
            raise ValueError("every dimension must lie in [1, MAX_ARRAY_BYTES]")
        return shape

    @model_validator(mode="after")
    def _length(self) -> Array:
        nbytes = math.prod(self.shape) * _NUMPY_DTYPES[self.dtype].itemsize
        if nbytes > MAX_ARRAY_BYTES:
            raise ValueError(f"array of {nbytes} bytes exceeds {MAX_ARRAY_BYTES}")
        if len(self.data) != 4 * ((nbytes + 2) // 3):
            raise ValueError(
                f"data must be base64 of exactly {nbytes} bytes for shape {self.shape}"
            )
        return self

    @classmethod
    def of(cls, array: np.ndarray) -> Array:
        """Wrap a numpy array (float arrays are sent as float32)."""
        arr = np.asarray(array)
        name = "uint8" if arr.dtype == np.uint8 else "float32"
        raw = np.ascontiguousarray(arr, dtype=_NUMPY_DTYPES[name]).tobytes()
        return cls(dtype=name, shape=tuple(arr.shape), data=base64.b64encode(raw).decode())

    def numpy(self) -> np.ndarray:
        """The array (a fresh, writable copy); ValueError if the base64 is corrupt."""
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("array data is not valid base64") from None
        dtype = _NUMPY_DTYPES[self.dtype]
        if len(raw) != math.prod(self.shape) * dtype.itemsize:
            raise ValueError("array data length does not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape).copy()
