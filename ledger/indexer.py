"""The chain indexer: each epoch's per-UID emission, read through ``bittensor.Client``.

Works on any network the SDK reaches (``wmnet.localnet.network.client_for``). For a
subnet it reads the metagraph at the head; ``last_step`` is the newest epoch's block.
The metagraph *at* an epoch block carries that epoch's per-UID ``emission`` (rao of
the subnet's alpha, not TAO), stakes, incentive, dividends, permits and the subnet
pool's reserves, whose ratio is the epoch's alpha price (``valuation.AlphaPrice``);
the one at ``block - 1`` names the epoch before (its ``last_step``). The indexer walks
back that way to the newest epoch it already holds (or ``backfill`` epochs on a fresh
ledger, or as far as the chain keeps history), then stores the new epochs oldest first.

Idempotent and resumable: each epoch is written in one transaction (epoch row,
per-UID rows, subsidy split) and ``(netuid, block)`` is unique, so a kill mid-ingest
leaves whole epochs only, and a rerun skips what is stored and goes on.

Roles: the owner hotkey's UID is ``owner``; a UID whose incentive is positive and at
least its dividends is a ``miner``; one with a permit or dividends is a
``validator``; anything else is a ``miner`` (with no emission). The owner cut is not
in any UID's emission on chain; it is derived from ``SubnetOwnerCut`` (u16) as the
``E - uid_total`` for which ``uid_total = E - floor(E * cut / 65535)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import bittensor as bt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger.models import Epoch, EpochEmission
from wmnet.ledger.subsidy import attribute_epoch
from wmnet.ledger.upsert import insert_ignore
from wmnet.ledger.valuation import AlphaPrice, Valuation

log = logging.getLogger(__name__)
U16_MAX = 65535


@dataclass(frozen=True)
class NeuronRow:
    uid: int
    hotkey: str
    coldkey: str
    emission_alpha_rao: int
    stake_alpha_rao: int
    incentive_u16: int
    dividends_u16: int
    validator_permit: bool


@dataclass(frozen=True)
class EpochSnapshot:
    """What the chain says about one epoch (pure data, no database)."""

    netuid: int
    block: int
    time: float
    tempo: int
    owner_hotkey: str
    neurons: tuple[NeuronRow, ...]
    alpha_price: AlphaPrice
    owner_cut_u16: int | None


def role_of(neuron: NeuronRow, owner_hotkey: str) -> str:
    if neuron.hotkey == owner_hotkey:
        return "owner"
    if neuron.incentive_u16 > 0 and neuron.incentive_u16 >= neuron.dividends_u16:
        return "miner"
    if neuron.validator_permit or neuron.dividends_u16 > 0:
        return "validator"
    return "miner"


def owner_cut_rao(uid_total: int, cut_u16: int) -> int:
    """The owner cut of an epoch whose UIDs were paid ``uid_total`` (see module doc)."""
    if cut_u16 <= 0 or uid_total <= 0:
        return 0
    guess = -(-uid_total * U16_MAX // (U16_MAX - cut_u16))
    for total in range(max(uid_total, guess - 2), guess + 3):
        if total - total * cut_u16 // U16_MAX == uid_total:
            return total - uid_total
    return guess - uid_total


def _u16(fraction: float) -> int:
    return max(0, min(U16_MAX, round(fraction * U16_MAX)))


async def _alpha_price(client: bt.Client, graph: bt.Metagraph, block: int) -> AlphaPrice:
    """The runtime's spot alpha price at ``block`` and the pool reserves in the metagraph
    (exact rao; ``Metagraph.price`` is their float ratio). See ``valuation``."""
    try:
        spot = await client.runtime(
            bt.runtime_api.SwapRuntimeApi.current_alpha_price, [graph.netuid], block=block
        )
    except bt.BittensorError as error:  # a runtime without the swap API
        log.info("no SwapRuntimeApi.current_alpha_price at block %d: %s", block, error)
        spot = None
    tao_in = int(graph.raw.get("tao_in") or 0)
    alpha_in = int(graph.raw.get("alpha_in") or 0)
    return AlphaPrice.from_chain(None if spot is None else int(spot), tao_in, alpha_in, block)


async def read_epoch(client: bt.Client, netuid: int, block: int) -> EpochSnapshot:
    """The epoch whose step ran at ``block``, read at that block."""
    graph = await client.subnets.metagraph(netuid, block=block, commitments=False)
    if graph is None:
        raise LookupError(f"subnet {netuid} does not exist at block {block}")
    if graph.last_step != block:
        raise LookupError(f"no epoch of subnet {netuid} at block {block} ({graph.last_step})")
    try:
        cut = await client.query(("SubtensorModule", "SubnetOwnerCut"), block=block)
        cut_u16: int | None = int(cut) if cut is not None else None
    except bt.BittensorError:
        cut_u16 = None
    info = await client.block_info(block)  # the Timestamp.set inherent's time
    if info is None:
        raise LookupError(f"block {block} is not on the chain")
    price = await _alpha_price(client, graph, block)
    neurons = tuple(
        NeuronRow(
            uid=n.uid,
            hotkey=n.hotkey,
            coldkey=n.coldkey,
            emission_alpha_rao=n.emission.rao,
            stake_alpha_rao=n.total_stake.rao,
            incentive_u16=_u16(n.incentive),
            dividends_u16=_u16(n.dividends),
            validator_permit=n.validator_permit,
        )
        for n in graph.neurons
    )
    return EpochSnapshot(
        netuid=netuid,
        block=block,
        time=info.timestamp.timestamp(),
        tempo=graph.tempo,
        owner_hotkey=graph.owner_hotkey,
        neurons=neurons,
        alpha_price=price,
        owner_cut_u16=cut_u16,
    )


def store_epoch(
    sessions: sessionmaker[Session],
    snapshot: EpochSnapshot,
    valuation: Valuation,
    network: str,
) -> bool:
    """Write one epoch in one transaction; False when it was already stored."""
    roles = {n.uid: role_of(n, snapshot.owner_hotkey) for n in snapshot.neurons}
    by_role = {"miner": 0, "validator": 0, "owner": 0}
    for n in snapshot.neurons:
        by_role[roles[n.uid]] += n.emission_alpha_rao
    uid_total = sum(by_role.values())
    if snapshot.owner_cut_u16 is None:
        cut, cut_source = 0, "unknown: the chain did not report SubnetOwnerCut"
    else:
        cut = owner_cut_rao(uid_total, snapshot.owner_cut_u16)
        cut_source = f"derived: SubnetOwnerCut {snapshot.owner_cut_u16}/65535 of the emission"
    price = valuation.alpha_price or snapshot.alpha_price  # the operator's overrides
    try:
        return _write_epoch(
            sessions,
            snapshot,
            valuation,
            network,
            roles,
            by_role,
            (cut, cut_source),
            price,
        )
    except IntegrityError:  # another indexer stored it between our check and our insert
        return False


def _write_epoch(
    sessions: sessionmaker[Session],
    snapshot: EpochSnapshot,
    valuation: Valuation,
    network: str,
    roles: dict[int, str],
    by_role: dict[str, int],
    owner_cut: tuple[int, str],
    price: AlphaPrice,
) -> bool:
    cut, cut_source = owner_cut
    uid_total = sum(by_role.values())
    with sessions.begin() as session:
        exists = session.scalar(
            select(Epoch.id).where(Epoch.netuid == snapshot.netuid, Epoch.block == snapshot.block)
        )
        if exists is not None:
            return False
        epoch = Epoch(
            netuid=snapshot.netuid,
            block=snapshot.block,
            time=snapshot.time,
            tempo=snapshot.tempo,
            network=network[:200],
            uid_emission_alpha_rao=uid_total,
            miner_emission_alpha_rao=by_role["miner"],
            validator_emission_alpha_rao=by_role["validator"],
            owner_emission_alpha_rao=by_role["owner"] + cut,
            owner_cut_alpha_rao=cut,
            owner_cut_source=cut_source,
            total_emission_alpha_rao=uid_total + cut,
            alpha_price_tao_rao=price.tao_rao,
            alpha_price_origin=price.origin.value,
            alpha_price_source=price.source[:200],
            pool_tao_rao=price.pool_tao_rao,
            pool_alpha_rao=price.pool_alpha_rao,
            currency=valuation.currency,
            tao_price_micro=valuation.tao_price_micro,
            tao_price_source=valuation.tao_price_source,
            ingested_at=time.time(),
        )
        session.add(epoch)
        session.flush()  # a concurrent indexer's insert fails here: unique (netuid, block)
        insert_ignore(
            session,
            EpochEmission.__table__,
            [
                {
                    "epoch_id": epoch.id,
                    "uid": n.uid,
                    "hotkey": n.hotkey,
                    "coldkey": n.coldkey,
                    "role": roles[n.uid],
                    "emission_alpha_rao": n.emission_alpha_rao,
                    "stake_alpha_rao": n.stake_alpha_rao,
                    "incentive_u16": n.incentive_u16,
                    "dividends_u16": n.dividends_u16,
                    "validator_permit": n.validator_permit,
                }
                for n in snapshot.neurons
            ],
        )
        attribute_epoch(session, epoch)
    return True


def _stored_blocks(sessions: sessionmaker[Session], netuid: int) -> set[int]:
    with sessions() as session:
        return set(session.scalars(select(Epoch.block).where(Epoch.netuid == netuid)))


class ChainIndexer:
    """Keeps the ledger's epochs of one subnet up to date with the chain."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: bt.Client,
        netuid: int,
        *,
        network: str,
        valuation: Valuation | None = None,
        backfill: int = 16,
        since_block: int = 0,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.netuid = netuid
        self.network = network
        self.valuation = valuation or Valuation.from_config()
        self.backfill = backfill
        self.since_block = since_block

    async def new_epochs(self) -> list[int]:
        """Blocks of the epochs the chain has and the ledger lacks, oldest first."""
        stored = _stored_blocks(self.sessions, self.netuid)
        head = await self.client.block()
        graph = await self.client.subnets.metagraph(self.netuid, block=head, commitments=False)
        if graph is None:
            raise LookupError(f"subnet {self.netuid} does not exist on {self.network}")
        limit = None if stored else self.backfill
        found: list[int] = []
        step = graph.last_step
        while step > max(0, self.since_block - 1) and step not in stored:
            if step <= graph.network_registered_at:  # registration, not an epoch
                break
            found.append(step)
            if (limit is not None and len(found) >= limit) or (stored and step < min(stored)):
                break
            try:
                before = await self.client.subnets.metagraph(
                    self.netuid, block=step - 1, commitments=False
                )
            except bt.BittensorError as error:  # history not kept that far back
                log.info("epochs before block %d unavailable: %s", step, error)
                break
            if before is None or before.last_step >= step:
                break
            step = before.last_step
        return sorted(found)

    async def sync(self, on_epoch: Callable[[int], None] | None = None) -> list[int]:
        """Store every new epoch, oldest first; the blocks stored."""
        written: list[int] = []
        for block in await self.new_epochs():
            snapshot = await read_epoch(self.client, self.netuid, block)
            if store_epoch(self.sessions, snapshot, self.valuation, self.network):
                written.append(block)
                if on_epoch is not None:
                    on_epoch(block)
        return written

    async def follow(self, interval_s: float, stop: asyncio.Event | None = None) -> None:
        """``sync`` every ``interval_s`` until ``stop`` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            blocks = await self.sync()
            if blocks:
                log.info("stored epochs %s of subnet %d", blocks, self.netuid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
