"""Signing and task helpers for the miner tests."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from bittensor import http_auth
from fastapi.testclient import TestClient

from wmnet.miner.config import MinerConfig
from wmnet.protocol.rollout import RolloutTask, SeededContext
from wmnet.protocol.spec import ROLLOUT_PATH
from wmnet.worldmodel.checkpoint import default_model_id

_ids = itertools.count()


def task(**fields: Any) -> RolloutTask:
    base: dict[str, Any] = {
        "task_id": f"task-{next(_ids):06d}",
        "model_id": default_model_id(),
        "context": SeededContext(seed=7, n_frames=3),
        "actions": [1, 2, 3, 0],
    }
    base.update(fields)
    return RolloutTask(**base)


def signed(
    wallet: Any,
    body: bytes,
    receiver: str,
    path: str = ROLLOUT_PATH,
    method: str = "POST",
    nonce_ns: int | None = None,
) -> dict[str, str]:
    headers = http_auth.sign(
        wallet, method=method, path=path, body=body, receiver_ss58=receiver, nonce_ns=nonce_ns
    )
    headers["Content-Type"] = "application/json"
    return headers


def post_task(http: TestClient, wallet: Any, receiver: str, t: RolloutTask) -> Any:
    body = t.model_dump_json().encode()
    return http.post(ROLLOUT_PATH, content=body, headers=signed(wallet, body, receiver))


def with_config(config: MinerConfig, **changes: Any) -> MinerConfig:
    return replace(config, **changes)
