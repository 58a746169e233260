"""Signing raw extrinsics for tests that go below the SDK."""

from __future__ import annotations

from typing import Any

from wmnet.localnet.chain import Chain
from wmnet.localnet.codec import ComposedCall, SignedExtrinsic
from wmnet.localnet.keys import dev_keypair


def sign(
    chain: Chain | str,
    uri: str,
    module: str,
    function: str,
    params: dict[str, Any],
    nonce: int | None = None,
) -> SignedExtrinsic:
    """``module.function(params)`` signed by the dev key ``uri`` for ``chain``
    (a Chain, or a genesis hash with an explicit nonce)."""
    key = dev_keypair(uri)
    call = ComposedCall(module, function, params)
    genesis = chain if isinstance(chain, str) else chain.state.genesis_hash
    if nonce is None:
        assert isinstance(chain, Chain)
        nonce = chain.next_nonce(key.ss58_address)
    payload = SignedExtrinsic.payload(call, key.ss58_address, nonce, genesis)
    return SignedExtrinsic(call, key.ss58_address, nonce, key.sign(payload), genesis)


def transfer(chain: Chain, value: int = 10**9, uri: str = "//Alice", to: str = "//Bob"):
    dest = dev_keypair(to).ss58_address
    return sign(chain, uri, "Balances", "transfer_keep_alive", {"dest": dest, "value": value})


def assert_contiguous(chain: Chain) -> None:
    """Every block from genesis to head exists and names its parent's hash."""
    previous = chain.block(0)
    assert previous is not None
    for number in range(1, chain.head + 1):
        row = chain.block(number)
        assert row is not None, f"block {number} is missing"
        assert row["parent_hash"] == previous["hash"], f"block {number}'s parent hash"
        previous = row
