"""Block emission: accrued per block to started subnets, paid at their epoch.

Simplification (docs/localnet.md): the real chain splits each block's
emission across subnets by their alpha pool prices; with no pools here, it
is split equally between the subnets that have called start_call.
"""

from __future__ import annotations

from wmnet.localnet.params import BLOCK_EMISSION_RAO
from wmnet.localnet.state import ChainState, Subnet


def emitting_subnets(state: ChainState, block: int) -> list[Subnet]:
    return [
        s
        for s in state.subnets.values()
        if s.first_emission_block is not None and s.first_emission_block <= block
    ]


def per_subnet_emission(state: ChainState, block: int) -> int:
    count = len(emitting_subnets(state, block))
    return BLOCK_EMISSION_RAO // count if count else 0


def pending_emission(state: ChainState, subnet: Subnet, block: int) -> int:
    """Emission accrued to ``subnet`` up to and including ``block``."""
    if subnet.first_emission_block is None or block < subnet.accrued_since:
        return subnet.pending_emission
    blocks = block - subnet.accrued_since + 1
    return subnet.pending_emission + blocks * per_subnet_emission(state, block)


def settle_accruals(state: ChainState, block: int) -> None:
    """Fold accruals up to ``block - 1`` into each subnet's pending emission.

    Called before anything changes the per-subnet share, so accruals are
    computed lazily (no state write per block) yet exactly.
    """
    for subnet in emitting_subnets(state, block - 1):
        subnet.pending_emission = pending_emission(state, subnet, block - 1)
        subnet.accrued_since = block
