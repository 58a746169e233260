"""The transaction pool and the MEV-shield deposits, both bounded.

Bounds (docs/localnet.md lists them): at most ``MAX_PENDING_PER_SIGNER``
pending extrinsics per signer and ``MAX_PENDING`` in all; pending extrinsics
older than ``MORTALITY_BLOCKS`` are dropped (the SDK's default era, its
``settings.DEFAULT_ERA_PERIOD``). Shielded deposits (calls/mev.py) need a signer that can pay the
carrier's fee, a nonce within ``SHIELDED_NONCE_WINDOW`` of the signer's next
one, at most ``MAX_SHIELDED_PER_SIGNER`` per signer and ``MAX_SHIELDED`` in
all, and are dropped once their nonce is used or after ``MORTALITY_BLOCKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bittensor.settings import DEFAULT_ERA_PERIOD

from wmnet.localnet.codec import Extrinsic
from wmnet.localnet.errors import InvalidTransaction

MAX_PENDING_PER_SIGNER = 16
MAX_PENDING = 1024
MAX_SHIELDED_PER_SIGNER = 4
MAX_SHIELDED = 1024
SHIELDED_NONCE_WINDOW = 16
MORTALITY_BLOCKS = DEFAULT_ERA_PERIOD


@dataclass
class Pending:
    xt: Extrinsic
    since: int  # head block when it entered the pool


class TxPool:
    def __init__(self) -> None:
        self.pending: list[Pending] = []
        self.shielded: dict[tuple[str, int], Pending] = {}

    def pending_of(self, signer: str) -> int:
        return sum(1 for p in self.pending if p.xt.signer == signer)

    def add(self, xt: Extrinsic, head: int) -> None:
        if len(self.pending) >= MAX_PENDING:
            raise InvalidTransaction("Invalid Transaction: ExhaustsResources (the pool is full)")
        if self.pending_of(xt.signer) >= MAX_PENDING_PER_SIGNER:
            raise InvalidTransaction(
                f"Invalid Transaction: ExhaustsResources (the pool already holds "
                f"{MAX_PENDING_PER_SIGNER} of this signer's extrinsics)"
            )
        self.pending.append(Pending(xt, head))

    def take(self, head: int) -> tuple[list[Extrinsic], list[Extrinsic]]:
        """Everything pending, split into (live, expired); the pool is left empty."""
        pending, self.pending = self.pending, []
        live = [p.xt for p in pending if head - p.since <= MORTALITY_BLOCKS]
        expired = [p.xt for p in pending if head - p.since > MORTALITY_BLOCKS]
        return live, expired

    def deposit(self, xt: Extrinsic, next_nonce: int, can_pay: bool, head: int) -> None:
        if not can_pay:
            raise InvalidTransaction(
                "Invalid Transaction: Payment (a shielded deposit needs a signer that can "
                "pay the carrier's fee)"
            )
        if not next_nonce <= xt.nonce <= next_nonce + SHIELDED_NONCE_WINDOW:
            raise InvalidTransaction(
                f"Invalid Transaction: Future (a shielded deposit's nonce must be within "
                f"{SHIELDED_NONCE_WINDOW} of the signer's next nonce {next_nonce})"
            )
        key = (xt.signer, xt.nonce)
        mine = sum(1 for signer, _ in self.shielded if signer == xt.signer)
        if key not in self.shielded and (
            mine >= MAX_SHIELDED_PER_SIGNER or len(self.shielded) >= MAX_SHIELDED
        ):
            raise InvalidTransaction(
                "Invalid Transaction: ExhaustsResources (too many shielded deposits pending)"
            )
        self.shielded[key] = Pending(xt, head)

    def lookup(self, signer: str, nonce: int) -> Extrinsic | None:
        entry = self.shielded.get((signer, nonce))
        return None if entry is None else entry.xt

    def release(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            self.shielded.pop(key, None)

    def prune_shielded(self, nonce_of: Callable[[str], int], head: int) -> None:
        """Drop deposits whose nonce is used, or that waited longer than a mortal era."""
        for key, entry in list(self.shielded.items()):
            used = key[1] < nonce_of(key[0])
            if used or head - entry.since > MORTALITY_BLOCKS:
                del self.shielded[key]
