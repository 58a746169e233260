"""An independent Substrate client against ``wmnet localnet up``: async-substrate-interface.

Not the bittensor SDK: its own WebSocket client, its own SCALE codec (scalecodec
types over the served V15 metadata), its own signing. Run as a script by
tests/localnet/test_rpc_independent.py; prints one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import sys

from async_substrate_interface import AsyncSubstrateInterface
from bittensor_core import Keypair

BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


class Signer:
    """The keypair shape the library signs with (payloads arrive as ScaleBytes)."""

    def __init__(self, uri: str):
        self._key = Keypair.create_from_uri(uri)
        self.ss58_address = self._key.ss58_address
        self.public_key = bytes(self._key.public_key)
        self.crypto_type = 1

    def sign(self, data) -> bytes:
        raw = data.data if hasattr(data, "data") else data
        return bytes(self._key.sign(bytes(raw)))


async def main(url: str) -> dict:
    seen: dict = {}
    async with AsyncSubstrateInterface(url, ss58_format=42) as substrate:
        runtime = await substrate.init_runtime()
        seen["spec_version"] = runtime.runtime_version
        seen["pallets"] = sorted(m.name for m in runtime.metadata.pallets)[:50]
        seen["chain"] = await substrate.rpc_request("system_chain", [])
        head = await substrate.get_chain_head()
        block = await substrate.get_block(head)
        seen["block_number"] = block["header"]["number"]
        seen["block_calls"] = [
            f"{x.value['call']['call_module']}.{x.value['call']['call_function']}"
            for x in block["extrinsics"]
        ]
        before = await substrate.query("System", "Account", [BOB])
        seen["bob_before"] = before.value["data"]["free"]
        alice = Signer("//Alice")
        call = await substrate.compose_call(
            "Balances", "transfer_keep_alive", {"dest": BOB, "value": 1_234_567}
        )
        extrinsic = await substrate.create_signed_extrinsic(
            call=call, keypair=alice, era={"period": 64}
        )
        receipt = await substrate.submit_extrinsic(extrinsic, wait_for_inclusion=True)
        seen["success"] = await receipt.is_success
        seen["events"] = sorted(
            f"{e['event']['module_id']}.{e['event']['event_id']}"
            for e in await receipt.triggered_events
        )
        after = await substrate.query("System", "Account", [BOB])
        seen["bob_after"] = after.value["data"]["free"]
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1])), default=str))
