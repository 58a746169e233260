"""bittensor v11's ``Substrate`` protocol over the local chain.

``bittensor.Client(network, substrate=LocalnetSubstrate(backend))`` runs the
SDK's real intents and reads against wmnet's chain, in this process
(``InProcessBackend``) or in another one (``HttpBackend``). Every write is
signed here with the caller's keypair and verified by the chain, so no
private key crosses a process boundary and no process can act for another
account.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

from bittensor._substrate import DEFAULT_ERA_PERIOD
from bittensor._transport.utils.receipt import nested_dispatch_error
from bittensor.balance import Balance
from bittensor.result import ChainError, ExtrinsicResult, chain_error_from_dispatch

from wmnet.localnet.backend import ChainBackend, UnknownItem
from wmnet.localnet.chain import Receipt, fee_for
from wmnet.localnet.codec import ComposedCall, SignedExtrinsic
from wmnet.localnet.params import EXISTENTIAL_DEPOSIT_RAO, MEV_KEY_BYTES, START_CALL_DELAY
from wmnet.localnet.registry import Registry
from wmnet.localnet.replay import HistoryUnavailable

CONSTANTS: Registry[tuple[str, str], Any] = Registry("constant")
CONSTANTS.add(("Balances", "ExistentialDeposit"), EXISTENTIAL_DEPOSIT_RAO)
CONSTANTS.add(("System", "SS58Prefix"), 42)
CONSTANTS.add(("SubtensorModule", "InitialStartCallDelay"), START_CALL_DELAY)


class LocalnetSubstrate:
    """A ``bittensor.Substrate`` backed by the local chain."""

    def __init__(self, backend: ChainBackend, *, blocking_io: bool = False):
        self.backend = backend
        self.token_symbols: dict[int, str] = {}
        # An HTTP backend blocks on I/O: run it in a worker thread.
        self._blocking_io = blocking_io

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            if self._blocking_io:
                return await asyncio.to_thread(fn, *args)
            return fn(*args)
        except (UnknownItem, HistoryUnavailable) as error:
            raise ChainError(str(error)) from error
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ChainError(f"malformed query: {error}") from error

    def balance(self, rao: int, netuid: int = 0) -> Balance:
        symbol = self.token_symbols.get(netuid) if netuid else None
        return Balance(int(rao), netuid, symbol)

    # Lifecycle --------------------------------------------------------------

    async def connect(self) -> None:
        await self._run(self.backend.genesis_hash)

    async def close(self) -> None:
        return None

    # Reads ------------------------------------------------------------------

    async def _block_number_of(self, block_hash: str | None) -> int | None:
        if block_hash is None:
            return None
        row = await self._run(self.backend.block, None, block_hash)
        if row is None:
            raise ChainError(f"no block with hash {block_hash} on this chain")
        return int(row["number"])

    async def block_hash(self, block: int | None = None) -> str:
        head = await self._run(self.backend.head)
        number = head if block is None else int(block)
        if number < 0 or number > head:
            raise ChainError(f"block {number} has not been produced (head is {head})")
        return await self._run(self.backend.block_hash, number)

    async def block_number(self) -> int:
        return int(await self._run(self.backend.head))

    async def finalized_block_number(self) -> int:
        # Instant finality: every sealed block is final on the local chain.
        return await self.block_number()

    async def block_time(self) -> float:
        return float(self.backend.block_time)

    async def spec_version(self) -> int:
        return 1

    async def get_block(
        self, block_number: int | None = None, block_hash: str | None = None
    ) -> dict | None:
        if block_number is None and block_hash is None:
            block_number = await self.block_number()
        row = await self._run(self.backend.block, block_number, block_hash)
        if row is None:
            return None
        return {
            "header": {
                "number": row["number"],
                "hash": row["hash"],
                "parentHash": row["parent_hash"],
            },
            "extrinsics": [
                {"extrinsic_hash": x.get("hash"), "call": x["call"]} for x in row["extrinsics"]
            ],
        }

    async def query(
        self,
        module: str,
        storage_function: str,
        params: list | None = None,
        block_hash: str | None = None,
    ) -> Any:
        at = await self._block_number_of(block_hash)
        return await self._run(self.backend.query, module, storage_function, list(params or []), at)

    async def map_has_entries(
        self, module: str, storage_function: str, params: list, block_hash: str | None = None
    ) -> bool:
        return bool(await self.query_map(module, storage_function, params, block_hash))

    async def query_map(
        self,
        module: str,
        storage_function: str,
        params: list | None = None,
        block_hash: str | None = None,
    ) -> list[tuple[Any, Any]]:
        at = await self._block_number_of(block_hash)
        rows = await self._run(
            self.backend.query_map, module, storage_function, list(params or []), at
        )
        return [(tuple(k) if isinstance(k, list) else k, v) for k, v in rows]

    async def query_batch(
        self,
        module: str,
        storage_function: str,
        param_sets: list[list],
        block_hash: str | None = None,
    ) -> list[Any]:
        return [await self.query(module, storage_function, p, block_hash) for p in param_sets]

    async def runtime_call(
        self, api: str, method: str, params: list, block_hash: str | None = None
    ) -> Any:
        at = await self._block_number_of(block_hash)
        return await self._run(self.backend.runtime_call, api, method, params, at)

    async def constant(self, module: str, name: str) -> Any:
        if (module, name) not in CONSTANTS:
            raise ChainError(f"the local chain does not model constant {module}.{name}")
        return CONSTANTS[(module, name)]

    async def decode_scale(self, type_string: str, data: Any) -> Any:
        raise ChainError("the local chain carries JSON, not SCALE; decode_scale is unsupported")

    async def blocks(self, *, finalized: bool = False) -> AsyncIterator[dict]:
        seen = await self.block_number()
        while True:
            head = await self.block_number()
            while seen < head:
                seen += 1
                row = await self._run(self.backend.block, seen, None)
                yield {
                    "header": {
                        "number": seen,
                        "hash": row["hash"] if row else None,
                        "parentHash": row["parent_hash"] if row else None,
                    }
                }
            await asyncio.sleep(max(self.backend.block_time / 4, 0.01))

    async def events(self, block_hash: str | None = None) -> list[dict]:
        number = await self._block_number_of(block_hash)
        row = await self._run(self.backend.block, number if number is not None else None, None)
        return list(row["events"]) if row else []

    # Calls and fees -----------------------------------------------------------

    async def compose(self, call: Any) -> ComposedCall:
        if isinstance(call, ComposedCall):
            return call
        module, function, params = call
        return ComposedCall(str(module), str(function), dict(params or {}))

    async def estimate_fee(self, call: Any, keypair: Any) -> Balance:
        return Balance.from_rao(fee_for(await self.compose(call)))

    async def estimate_weight(self, call: Any, keypair: Any) -> dict:
        return {"ref_time": 0, "proof_size": 0}

    async def account_next_index(self, address: str) -> int:
        return int(await self._run(self.backend.next_nonce, address))

    # Writes -------------------------------------------------------------------

    async def mev_next_key(self) -> bytes | None:
        return b"\x01" * MEV_KEY_BYTES

    async def _sign(self, call: Any, keypair: Any, nonce: int) -> SignedExtrinsic:
        composed = await self.compose(call)
        genesis = await self._run(self.backend.genesis_hash)
        payload = SignedExtrinsic.payload(composed, keypair.ss58_address, nonce, genesis)
        signature = keypair.sign(payload)
        if inspect.isawaitable(signature):
            signature = await signature
        signature = bytes(signature)
        if len(signature) == 65:  # a MultiSignature with its version byte
            signature = signature[1:]
        return SignedExtrinsic(composed, keypair.ss58_address, nonce, signature, genesis)

    async def sign_extrinsic(
        self, call: Any, keypair: Any, *, nonce: int, period: int
    ) -> tuple[bytes, str]:
        xt = await self._sign(call, keypair, nonce)
        # The shielded path: deposit the inner extrinsic; the carrier releases it.
        await self._run(self.backend.announce_shielded, xt)
        return xt.to_bytes(), xt.hash

    async def find_extrinsic(self, extrinsic_hash: str, block_hash: str) -> ExtrinsicResult | None:
        row = await self._run(self.backend.block, None, block_hash)
        if row is None:
            return None
        for index, extrinsic in enumerate(row["extrinsics"]):
            if extrinsic.get("hash") == extrinsic_hash:
                events = [e for e in row["events"] if e.get("extrinsic_idx") == index]
                return result_from_events(row, index, events)
        return None

    async def submit(
        self,
        call: Any,
        keypair: Any,
        *,
        nonce: int | None = None,
        period: int | None = DEFAULT_ERA_PERIOD,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        if nonce is None:
            nonce = await self.account_next_index(keypair.ss58_address)
        xt = await self._sign(call, keypair, nonce)
        wait = wait_for_inclusion or wait_for_finalization
        receipt = await asyncio.to_thread(self.backend.submit, xt, wait)
        if not wait and receipt.error_message == "pending":
            return ExtrinsicResult(success=True, message="Submitted (not waiting).")
        return result_from_receipt(receipt)

    async def prepare(
        self,
        call: Any,
        *,
        address: str,
        crypto_type: int = 1,
        nonce: int | None = None,
        period: int | None = DEFAULT_ERA_PERIOD,
        tip: int = 0,
        metadata_hash: bytes | None = None,
    ) -> Any:
        raise ChainError("out-of-process signing is not supported on the local chain")

    async def submit_signature(
        self,
        unsigned: Any,
        signature: bytes | str,
        *,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        raise ChainError("out-of-process signing is not supported on the local chain")

    async def submit_signed(
        self,
        extrinsic: Any,
        keypair: Any,
        *,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        raise ChainError("pre-signed extrinsics are not supported on the local chain")

    def multisig_account(self, signatories: list[str], threshold: int) -> Any:
        raise ChainError("multisig is not supported on the local chain")

    async def submit_multisig(
        self,
        call: Any,
        keypair: Any,
        multisig_account: Any,
        *,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        raise ChainError("multisig is not supported on the local chain")


def result_from_receipt(receipt: Receipt) -> ExtrinsicResult:
    if not receipt.included:
        message = receipt.error_message or "the transaction was not included"
        return ExtrinsicResult(success=False, message=message, error=ChainError(message))
    extrinsic_id = f"{receipt.block_number}-{receipt.extrinsic_index:04d}"
    nested = nested_dispatch_error(receipt.events) if receipt.success else None
    if nested is not None:
        # As the RPC path does: a wrapper (Sudo) whose inner call failed is a failure.
        error = chain_error_from_dispatch(nested)
        return ExtrinsicResult(
            success=False,
            message=f"nested call failed: {error.message}",
            block_hash=receipt.block_hash,
            extrinsic_id=extrinsic_id,
            fee=Balance.from_rao(receipt.fee),
            events=list(receipt.events),
            error=error,
        )
    if receipt.success:
        return ExtrinsicResult(
            success=True,
            message="Success",
            block_hash=receipt.block_hash,
            extrinsic_id=extrinsic_id,
            fee=Balance.from_rao(receipt.fee),
            events=list(receipt.events),
        )
    message = receipt.error_message or receipt.error_name or "extrinsic failed"
    return ExtrinsicResult(
        success=False,
        message=message,
        block_hash=receipt.block_hash,
        extrinsic_id=extrinsic_id,
        fee=Balance.from_rao(receipt.fee),
        events=list(receipt.events),
        error=ChainError(message, receipt.error_name),
    )


def result_from_events(row: dict, index: int, events: list[dict]) -> ExtrinsicResult:
    """Rebuild an included extrinsic's outcome from its block's events."""
    from wmnet.localnet.error_codes import name_of_payload

    extrinsic_id = f"{row['number']}-{index:04d}"
    for record in events:
        event = record.get("event", {})
        if event.get("module_id") == "System" and event.get("event_id") == "ExtrinsicFailed":
            name, docs = name_of_payload(event["attributes"]["dispatch_error"])
            return ExtrinsicResult(
                success=False,
                message=docs,
                block_hash=row["hash"],
                extrinsic_id=extrinsic_id,
                events=events,
                error=ChainError(docs, name),
            )
    return ExtrinsicResult(
        success=True,
        message="Success",
        block_hash=row["hash"],
        extrinsic_id=extrinsic_id,
        events=events,
    )
