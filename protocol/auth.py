"""btauth/1 signing for wmnet's endpoints: a thin layer over ``bittensor.http_auth``.

The signed payload covers method, path, the sha256 of the raw body, a nanosecond nonce,
sender and receiver; so a caller must send exactly the bytes it signed. ``signed_post``
returns both, so the two can never drift apart.
"""

from __future__ import annotations

from typing import Any

from bittensor import http_auth
from pydantic import BaseModel


def signed_post(wallet: Any, path: str, model: BaseModel, receiver_ss58: str) -> tuple[bytes, dict]:
    """The body bytes and headers of a btauth/1-signed ``POST path`` of ``model``."""
    body = model.model_dump_json().encode()
    headers = http_auth.sign(
        wallet, method="POST", path=path, body=body, receiver_ss58=receiver_ss58
    )
    headers["Content-Type"] = "application/json"
    return body, headers


def signed_get(wallet: Any, path: str, receiver_ss58: str) -> dict:
    """Headers of a btauth/1-signed ``GET path`` (empty body)."""
    return http_auth.sign(wallet, method="GET", path=path, body=b"", receiver_ss58=receiver_ss58)
