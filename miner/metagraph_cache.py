"""Who may call this miner: a cached view of the subnet's metagraph.

Authorization must never cost a chain read per request (a request flood would become a
chain-RPC flood, and public RPCs rate-limit). A background task polls the block number
(``client.block()``, one small read) and re-reads the metagraph
(``client.subnets.metagraph(netuid)``) only when the block advances. When the chain
cannot be reached the last good snapshot stays in use, the failure is logged once per
outage and counted in metrics, and the loop reconnects on its next poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

log = logging.getLogger("wmnet.miner.metagraph")


@dataclass(frozen=True)
class Member:
    """One registered hotkey as the gate sees it."""

    uid: int
    validator_permit: bool
    stake_rao: int  # the metagraph's total_stake of this hotkey on the subnet


@dataclass(frozen=True)
class Snapshot:
    """The subnet at one block; replaced whole (never mutated), so readers need no lock."""

    block: int
    members: Mapping[str, Member]
    mean_permitted_stake_rao: float
    fetched_at: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, graph: Any) -> Snapshot:
        """From a ``bittensor.metagraph.Metagraph``."""
        members = {
            n.hotkey: Member(int(n.uid), bool(n.validator_permit), int(n.total_stake.rao))
            for n in graph.neurons
        }
        permitted = [m.stake_rao for m in members.values() if m.validator_permit]
        mean = sum(permitted) / len(permitted) if permitted else 0.0
        return cls(int(graph.block), MappingProxyType(members), mean)

    def stake_share(self, member: Member) -> float:
        """A member's stake relative to the mean permitted stake (1.0 when all hold 0)."""
        if self.mean_permitted_stake_rao <= 0:
            return 1.0
        return member.stake_rao / self.mean_permitted_stake_rao


ClientFactory = Callable[[], Any]  # returns an unconnected bittensor.Client


class MetagraphCache:
    def __init__(
        self,
        netuid: int,
        client_factory: ClientFactory,
        poll_s: float = 1.0,
        on_refresh: Callable[[Snapshot], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.netuid = netuid
        self.poll_s = poll_s
        self._factory = client_factory
        self._on_refresh = on_refresh
        self._on_failure = on_failure
        self._client: Any = None
        self.snapshot: Snapshot | None = None
        self.stale = False  # True while the last attempt to reach the chain failed
        self.last_error: str | None = None
        self.refreshes = 0

    def lookup(self, hotkey: str) -> Member | None:
        snap = self.snapshot
        return None if snap is None else snap.members.get(hotkey)

    def age_s(self) -> float:
        """Seconds since the snapshot in use was read (inf before the first)."""
        snap = self.snapshot
        return float("inf") if snap is None else time.monotonic() - snap.fetched_at

    async def poll_once(self) -> bool:
        """Read the block; re-read the metagraph if it advanced. False if the chain failed."""
        try:
            if self._client is None:
                client = self._factory()
                await client.connect()
                self._client = client
            block = await self._client.block()
            if self.snapshot is None or block > self.snapshot.block:
                graph = await self._client.subnets.metagraph(self.netuid)
                if graph is None:
                    raise LookupError(f"subnet {self.netuid} does not exist on this chain")
                self._install(Snapshot.of(graph))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any transport or decode failure: keep the last good one
            self._failed(error)
            await self._drop_client()
            return False
        if self.stale:
            log.info("metagraph refresh recovered at block %s", self.snapshot.block)
        self.stale, self.last_error = False, None
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            while True:
                await self.poll_once()
                await asyncio.sleep(self.poll_s)
        finally:
            await self._drop_client()

    def _install(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.refreshes += 1
        if self._on_refresh is not None:
            self._on_refresh(snap)

    def _failed(self, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"[:300]
        if not self.stale:  # once per outage, not once per poll
            kept = "none yet" if self.snapshot is None else f"block {self.snapshot.block}"
            log.warning(
                "metagraph refresh failed (%s); keeping the last good one (%s)", reason, kept
            )
        self.stale, self.last_error = True, reason
        if self._on_failure is not None:
            self._on_failure()

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # closing a broken connection may fail too; nothing to keep
                log.debug("closing the chain client failed", exc_info=True)
