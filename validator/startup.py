"""What a validator checks on the chain before it starts, and the summary it prints.

A validator whose hotkey is not registered would run on and collect refusals: miners
answer only registered callers with a validator permit (``miner/gate.py``), and the
chain refuses its weights. So ``wmnet validator run`` reads its own neuron first: an
unregistered hotkey is an error that says how to register; a missing permit or stake
is a warning (permits come with the next epoch after staking). The subnet's weight
settings are read too, because two of them make weights silently useless:
commit-reveal on an offline chain (timelocked commits are revealed from drand) and a
weights rate limit longer than the tempo (weights can be set less than once a tempo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bittensor as bt


class NotRegistered(RuntimeError):
    """The validator's hotkey has no uid on the subnet (worded for the operator)."""


@dataclass(frozen=True)
class ValidatorSeat:
    """The validator's own neuron and the subnet's weight settings, at ``block``."""

    block: int
    uid: int
    hotkey: str
    permit: bool
    stake_rao: int
    tempo: int
    weights_rate_limit: int
    commit_reveal: bool

    def warnings(self, local_chain: bool) -> list[str]:
        """What will keep this validator's weights from counting, each with the fix."""
        out = []
        if not self.permit:
            out.append(
                f"uid {self.uid} has no validator permit yet (stake {self.stake_rao / 1e9:,.3f} α):"
                " miners refuse its requests until an epoch grants one; permits go to the "
                "largest stakes (`wmnet subnet show` prints the current floor)"
            )
        if self.commit_reveal and local_chain:
            out.append(
                "commit-reveal is on: weights are committed timelocked to a drand round an "
                "offline chain never reaches, so they never count; turn it off as the "
                "owner: `wmnet subnet set --name commit_reveal_weights_enabled --value false`"
            )
        if self.weights_rate_limit > self.tempo:
            out.append(
                f"the weights rate limit ({self.weights_rate_limit} blocks) is longer than "
                f"the tempo ({self.tempo}): weights are set every {self.weights_rate_limit} "
                "blocks, not every tempo"
            )
        return out


async def read_seat(client: bt.Client, netuid: int, hotkey: str) -> ValidatorSeat:
    """This hotkey's neuron on ``netuid``; NotRegistered when it has none."""
    graph = await client.subnets.metagraph(netuid)
    if graph is None:
        raise NotRegistered(f"subnet {netuid} does not exist")
    neuron = graph.by_hotkey(hotkey)
    if neuron is None:
        raise NotRegistered(f"hotkey {hotkey} is not registered on netuid {netuid}")
    rate = await client.query(("SubtensorModule", "WeightsSetRateLimit"), [netuid])
    reveal = await client.query(("SubtensorModule", "CommitRevealWeightsEnabled"), [netuid])
    return ValidatorSeat(
        block=graph.block,
        uid=neuron.uid,
        hotkey=hotkey,
        permit=bool(neuron.validator_permit),
        stake_rao=int(neuron.total_stake.rao),
        tempo=int(graph.tempo),
        weights_rate_limit=int(rate or 0),
        commit_reveal=bool(reveal),
    )


def redact_db_url(url: str) -> str:
    """A database URL without its password, for logs."""
    if not url:
        return ""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is logged by scheme only
        return url.split(":", 1)[0] + ":…"


def summary(
    seat: ValidatorSeat | None,
    *,
    network: str,
    netuid: int,
    state_path: Path,
    resumed: Any | None,
    usage_path: Path,
    db: str,
    gateway: str | None,
    store: str | None,
) -> str:
    """The one start-up line: who, where, and every file and address it uses.

    ``resumed`` is the state loaded from ``state_path`` (None when it starts fresh).
    """
    who = (
        f"uid {seat.uid} ({seat.hotkey}), permit {'yes' if seat.permit else 'no'}, "
        f"stake {seat.stake_rao / 1e9:,.3f} α"
        if seat is not None
        else "registration not checked (chain unreachable)"
    )
    if resumed is not None:
        last = resumed.last_weights_block
        state = (
            f"resumed state {state_path} ({len(resumed.scores.scores)} rollout and "
            f"{len(resumed.shard_scores.scores)} shard scores, last weights at block "
            f"{last if last is not None else 'never'})"
        )
    else:
        state = f"new state {state_path}"
    parts = [
        f"validator {who} on netuid {netuid} at {network}",
        state,
        f"usage {usage_path}",
        f"ledger {redact_db_url(db) if db else 'none (--db)'}",
        f"gateway {gateway or 'off (--gateway-port)'}",
        f"store {store or 'none: rollouts only (--store)'}",
    ]
    return "; ".join(parts)
