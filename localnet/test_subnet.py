"""What a test subnet needs on any chain, embedded or a real subtensor.

Offline, timelocked weight commits never reveal, so a test subnet turns
commit-reveal off; and it drops the weights rate limit to 0 so tests can set
weights every block. The second is root-only: ``Sudo.sudo`` by the sudo key.
"""

from __future__ import annotations

from typing import Any

import bittensor as bt


async def configure_for_tests(client: bt.Client, netuid: int, owner: Any, sudo: Any) -> None:
    """Commit-reveal off (as the owner) and weights rate limit 0 (as sudo)."""
    off = bt.SetHyperparameter(netuid=netuid, name="commit_reveal_weights_enabled", value=False)
    result = await client.execute(off, owner)
    if not result.success:
        raise bt.ChainError(f"disabling commit-reveal failed: {result.message}")
    inner = await client.compose(
        bt.calls.AdminUtils.sudo_set_weights_set_rate_limit(netuid=netuid, weights_set_rate_limit=0)
    )
    result = await client.submit_call(bt.calls.Sudo.sudo(call=inner), sudo)
    if not result.success:
        raise bt.ChainError(f"setting the weights rate limit failed: {result.message}")
