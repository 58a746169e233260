"""Block emission: accrued per block into each started subnet's pending maps, paid at
its epoch.

Each block, every subnet that has called start_call gets its alpha out, split as
subtensor's `emit_to_subnets` splits it (`localnet.payout.block_split`: owner cut,
server and validator halves, each truncated to whole rao). Accrual is lazy: nothing is
written per block; a subnet's pending amounts are its settled ones plus its per-block
split times the blocks since `accrued_since`, settled whenever the per-block split
changes (a subnet starts) and drained by the epoch.

Simplification (docs/localnet.md): the real chain mints each subnet's alpha from its own
issuance schedule and splits the block's TAO by pool prices; with no pools here, 1 TAO
of emission per block is split equally between the started subnets, 1 alpha = 1 TAO.
"""

from __future__ import annotations

from wmnet.localnet.params import BLOCK_EMISSION_RAO, SUBNET_OWNER_CUT_U16
from wmnet.localnet.payout import PendingEmission, block_split
from wmnet.localnet.state import ChainState, Subnet


def emitting_subnets(state: ChainState, block: int) -> list[Subnet]:
    return [
        s
        for s in state.subnets.values()
        if s.first_emission_block is not None and s.first_emission_block <= block
    ]


def per_subnet_emission(state: ChainState, block: int) -> int:
    """Alpha out of each emitting subnet at ``block``, in rao."""
    count = len(emitting_subnets(state, block))
    return BLOCK_EMISSION_RAO // count if count else 0


def _settled(subnet: Subnet) -> PendingEmission:
    return PendingEmission(
        subnet.pending_server, subnet.pending_validator, subnet.pending_owner_cut
    )


def pending_emission(state: ChainState, subnet: Subnet, block: int) -> PendingEmission:
    """Emission pending for ``subnet`` up to and including ``block``."""
    settled = _settled(subnet)
    if subnet.first_emission_block is None or block < subnet.accrued_since:
        return settled
    blocks = block - subnet.accrued_since + 1
    split = block_split(per_subnet_emission(state, block), SUBNET_OWNER_CUT_U16)
    return settled + split.times(blocks)


def _store(subnet: Subnet, pending: PendingEmission, accrued_since: int) -> None:
    subnet.pending_server = pending.server
    subnet.pending_validator = pending.validator
    subnet.pending_owner_cut = pending.owner_cut
    subnet.accrued_since = accrued_since


def settle_accruals(state: ChainState, block: int) -> None:
    """Fold accruals up to ``block - 1`` into each subnet's pending maps.

    Called before anything changes the per-subnet share, so accruals are
    computed lazily (no state write per block) yet exactly.
    """
    for subnet in emitting_subnets(state, block - 1):
        _store(subnet, pending_emission(state, subnet, block - 1), block)


def drain_pending(state: ChainState, subnet: Subnet, block: int) -> PendingEmission:
    """Take what is pending at ``block`` for the epoch; accrual restarts after it."""
    pending = pending_emission(state, subnet, block)
    _store(subnet, PendingEmission(), block + 1)
    return pending
