"""The demo's live view: block, epoch, per-miner scores, weights and incentive, the
customer's requests and what they paid.

Everything shown is read from where an operator would read it: the chain's metagraph
(block, epochs, incentive, emission), the validator's state file (moving scores per
workload, last weights, training steps) and the customer's own receipts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from wmnet.neurons.demo_customer import CustomerStats


@dataclass(frozen=True)
class MinerRow:
    index: int
    uid: int
    hotkey: str
    label: str
    cheater: bool


@dataclass(frozen=True)
class Snapshot:
    block: int
    tempo: int
    last_step: int
    epochs: int  # epochs since the validator's first weights
    incentive: dict[int, float]
    emission_rao: dict[int, int]
    state: dict[str, Any]


def read_state(path: Path) -> dict[str, Any]:
    """The validator's state file, or {} before its first save (or mid-replace)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def epochs_since(block: int, tempo: int, start: int | None) -> int:
    """Epochs run since block ``start`` (subtensor runs one every ``tempo`` blocks)."""
    if start is None or block <= start or tempo <= 0:
        return 0
    return (block - start) // tempo


def snapshot(graph: Any, state: dict[str, Any], start: int | None) -> Snapshot:
    """What the view shows now; ``start``: the block of the validator's first weights."""
    return Snapshot(
        block=graph.block,
        tempo=graph.tempo,
        last_step=graph.last_step,
        epochs=epochs_since(graph.block, graph.tempo, start),
        incentive={n.uid: n.incentive for n in graph.neurons},
        emission_rao={n.uid: n.emission.rao for n in graph.neurons},
        state=state,
    )


def _score(state: dict[str, Any], key: str, uid: int) -> str:
    value = state.get(key, {}).get(str(uid))
    return "-" if value is None else f"{value:.3f}"


def render(
    snap: Snapshot, miners: list[MinerRow], tempos: int, customer: CustomerStats, currency: str
) -> Group:
    """One frame of the live view."""
    weights = snap.state.get("last_weights", {})
    table = Table(title="miners", title_justify="left")
    for column in ("uid", "miner", "rollout score", "shard score", "weight", "incentive",
                   "emission α", "customer requests"):  # fmt: skip
        table.add_column(column, no_wrap=True, justify="left" if column == "miner" else "right")
    for m in miners:
        incentive = snap.incentive.get(m.uid, 0.0)
        table.add_row(
            str(m.uid),
            Text(m.label, style="red" if m.cheater else "green"),
            _score(snap.state, "scores", m.uid),
            _score(snap.state, "shard_scores", m.uid),
            f"{float(weights.get(str(m.uid), 0.0)):.3f}",
            f"{incentive:.4f}",
            f"{snap.emission_rao.get(m.uid, 0) / 1e9:.4f}",
            str(customer.by_miner.get(m.uid, 0)),
        )
    head = Text.assemble(
        ("block ", "dim"), (str(snap.block), "bold"),
        ("   epoch ", "dim"), (f"{min(snap.epochs, tempos)}/{tempos}", "bold"),
        ("   tempo ", "dim"), (str(snap.tempo), ""),
        ("   training steps ", "dim"), (str(snap.state.get("shard_steps", 0)), "bold"),
    )  # fmt: skip
    buyer = Text.assemble(
        ("customer: ", "dim"), (f"{customer.served} rollouts served", "bold"),
        (f", {customer.retries} retries charged once", ""),
        (f", {customer.failed} refused/undelivered (not charged)", "dim"),
        ("   revenue ", "dim"), (f"{customer.spent_micro / 1e6:,.2f} {currency}", "bold green"),
    )  # fmt: skip
    return Group(head, table, buyer)


def epoch_line(snap: Snapshot, miners: list[MinerRow], customer: CustomerStats) -> str:
    """One line per epoch, for logs and terminals that cannot redraw."""
    incentive = ", ".join(f"uid {m.uid} {snap.incentive.get(m.uid, 0.0):.3f}" for m in miners)
    return (
        f"epoch at block {snap.last_step}: incentive {incentive}; "
        f"customer {customer.served} served, revenue {customer.spent_micro / 1e6:,.2f}"
    )
