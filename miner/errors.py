"""Every refusal the miner makes, as one exception type rendered to an ``ErrorBody``.

Handlers raise :class:`MinerError` with a status and a code from
``wmnet.protocol.errors``; the app turns it into ``{"error", "detail",
"retry_after_s"}`` JSON (plus ``Retry-After`` for 429/503). A detail never carries a
traceback or a secret: only the reason a caller can act on.
"""

from __future__ import annotations

import math

from fastapi.responses import JSONResponse

from wmnet.protocol.errors import ErrorBody, ErrorCode

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
