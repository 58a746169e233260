"""The client side of a served chain: the backend operations over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from wmnet.localnet.backend import UnknownItem
from wmnet.localnet.chain import Receipt
from wmnet.localnet.codec import SignedExtrinsic, decode_value, encode_value
from wmnet.localnet.replay import HistoryUnavailable


class LocalnetUnavailable(ConnectionError):
    """No local chain answers at the given address."""


class HttpBackend:
    def __init__(self, url: str, *, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self._info: dict[str, Any] | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise LocalnetUnavailable(
                f"no local chain answers at {self.url} ({error}); "
                "start one with `wmnet localnet up`"
            ) from error
        if response.status_code < 400:
            return response.json()
        detail = _detail(response)
        if response.status_code == 404 and path.startswith(("/v1/query", "/v1/runtime")):
            raise UnknownItem(detail)
        if response.status_code == 410:
            raise HistoryUnavailable(detail)
        raise ValueError(f"localnet refused {path}: {detail}")

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self._request("GET", "/v1/info")
        return self._info

    @property
    def block_time(self) -> float:
        return float(self.info()["block_time"])

    def genesis_hash(self) -> str:
        return str(self.info()["genesis_hash"])

    def head(self) -> int:
        return int(self._request("GET", "/v1/info")["head"])

    def block_hash(self, number: int) -> str:
        return str(self._request("GET", f"/v1/block_hash/{number}")["hash"])

    def block(self, number: int | None = None, block_hash: str | None = None) -> dict | None:
        params = {k: v for k, v in {"number": number, "hash": block_hash}.items() if v is not None}
        try:
            return self._request("GET", "/v1/block", params=params)
        except ValueError:
            return None

    def query(self, module: str, item: str, params: list[Any], at: int | None = None) -> Any:
        body = {"module": module, "item": item, "params": encode_value(params), "at": at}
        return decode_value(self._request("POST", "/v1/query", json=body)["value"])

    def query_map(
        self, module: str, item: str, params: list[Any], at: int | None = None
    ) -> list[tuple[Any, Any]]:
        body = {"module": module, "item": item, "params": encode_value(params), "at": at}
        rows = decode_value(self._request("POST", "/v1/query_map", json=body)["rows"])
        return [(k, v) for k, v in rows]

    def runtime_call(self, api: str, method: str, params: Any, at: int | None = None) -> Any:
        body = {"api": api, "method": method, "params": encode_value(params), "at": at}
        return decode_value(self._request("POST", "/v1/runtime_call", json=body)["value"])

    def next_nonce(self, address: str) -> int:
        return int(self._request("GET", f"/v1/nonce/{address}")["nonce"])

    def submit(self, xt: SignedExtrinsic, wait: bool = True) -> Receipt:
        data = self._request("POST", "/v1/submit", json={"extrinsic": xt.to_json(), "wait": wait})
        return Receipt(**decode_value(data))

    def announce_shielded(self, xt: SignedExtrinsic) -> None:
        self._request("POST", "/v1/shielded", json={"extrinsic": xt.to_json()})

    def epoch_history(self, netuid: int, since_block: int = 0) -> list[dict[str, Any]]:
        return list(
            self._request("GET", f"/v1/epochs/{netuid}", params={"since": since_block})["epochs"]
        )

    def advance(self, blocks: int) -> int:
        return int(self._request("POST", "/v1/advance", json={"blocks": blocks})["head"])

    def close(self) -> None:
        self._http.close()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.reason_phrase))
    except ValueError:  # not JSON (a proxy's error page, a 413 from elsewhere)
        return response.reason_phrase
