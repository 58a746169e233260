"""Every refusal the miner makes, as one exception type rendered to an ``ErrorBody``.

Handlers raise :class:`MinerError` with a status and a code from
``wmnet.protocol.errors``; the app turns it into ``{"error", "detail",
"retry_after_s"}`` JSON (plus ``Retry-After`` for 429/503). A detail never carries a
traceback or a secret: only the reason a caller can act on.
"""

from __future__ import annotations

import math
from typing import TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from wmnet.protocol.errors import ErrorBody, ErrorCode

M = TypeVar("M", bound=BaseModel)

_MAX_DETAIL = 2000


class MinerError(Exception):
    def __init__(
        self, status: int, code: ErrorCode, detail: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.retry_after_s = retry_after_s


def error_response(
    status: int, code: ErrorCode, detail: str, retry_after_s: float | None = None
) -> JSONResponse:
    body = ErrorBody(error=code, detail=detail[:_MAX_DETAIL], retry_after_s=retry_after_s)
    headers = {}
    if retry_after_s is not None:
        # HTTP's Retry-After is whole seconds; round up so a prompt retry is not refused again.
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def render(error: MinerError) -> JSONResponse:
    return error_response(error.status, error.code, error.detail, error.retry_after_s)


def unauthenticated(detail: str) -> MinerError:
    return MinerError(401, "unauthenticated", detail)


def forbidden(detail: str) -> MinerError:
    return MinerError(403, "forbidden", detail)


def invalid(detail: str, status: int = 400) -> MinerError:
    return MinerError(status, "invalid", detail)


def overloaded(detail: str, retry_after_s: float) -> MinerError:
    return MinerError(503, "overloaded", detail, retry_after_s)


def parse_body(raw: bytes, model: type[M], path: str, workload: str) -> M:
    """``model`` from ``raw``; 400 for bad JSON, version or workload, 422 for bad fields."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False, include_context=False)
    if any(p["type"] == "json_invalid" for p in problems):
        raise invalid("the body is not valid JSON")
    first = problems[0]
    if first["loc"][:1] == ("spec_version",):
        raise invalid(f"spec_version: {first['msg']}")
    if first["loc"][:1] == ("workload",):
        raise MinerError(400, "unsupported", f"{path} serves the {workload} workload only")
    summary = "; ".join(
        f"{'.'.join(str(x) for x in p['loc']) or 'body'}: {p['msg']}" for p in problems[:5]
    )
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    raise invalid((summary or "invalid task") + more, 422)
