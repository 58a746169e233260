"""Map subtensor error names to their (pallet index, error index) and back.

The SDK's generated error catalog is the source of truth for both, so a
failure raised here decodes on the client exactly as a real node's does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bittensor._generated.errors import ERRORS

from wmnet.localnet.errors import DispatchError


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], tuple[int, int, str]]:
    return {(info.pallet, info.name): (p, e, info.docs) for (p, e), info in ERRORS.items()}


def docs_for(error: DispatchError) -> str:
    entry = _index().get((error.pallet, error.name))
    if error.message != error.name:
        return error.message
    return entry[2] if entry and entry[2] else error.name


def module_error_payload(error: DispatchError) -> Any:
    entry = _index().get((error.pallet, error.name))
    if entry is None:
        if error.name == "BadOrigin":
            return "BadOrigin"
        return {"Other": error.message}
    pallet_index, error_index, _docs = entry
    return {"Module": {"index": pallet_index, "error": f"0x{error_index:02x}000000"}}


def name_of_payload(payload: Any) -> tuple[str | None, str]:
    """(name, docs) of a decoded DispatchError payload, the inverse of the above."""
    if isinstance(payload, dict) and "Module" in payload:
        module = payload["Module"]
        error_index = int(str(module["error"]).removeprefix("0x")[:2], 16)
        info = ERRORS.get((int(module["index"]), error_index))
        if info:
            return info.name, info.docs or info.name
    if isinstance(payload, str):
        return payload, payload
    if isinstance(payload, dict) and "Other" in payload:
        return None, str(payload["Other"])
    return None, str(payload)
