"""The demo's answer: the chain's epochs ingested into the ledger, the ledger's report per
workload and per miner, a PNG, and the checks that say whether the subnet did its job.

The figures are the ledger's own (``wmnet.ledger.reports``, defined in docs/ledger.md):
the demo adds nothing but the miners' labels and the final incentive read from the
chain. Emission is the subnet's alpha token: ``emission_alpha`` (alpha), its TAO value
at each epoch's alpha price (``emission_tao``) and its currency value
(``emission_value``) stay apart. Money stays exact: decimal strings beside the integers
(``emission_alpha_rao``, ``emission_tao_rao``, ``emission_value_micro``,
``revenue_micro``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from wmnet.neurons.demo_display import MinerRow
from wmnet.protocol.spec import WORKLOADS


def ingest_chain(
    sessions: sessionmaker[Session], chain_url: str, netuid: int, tao_price: str, currency: str
) -> list[int]:
    """Stores every epoch of the subnet the ledger lacks (``wmnet ledger ingest chain``)."""
    from wmnet.ledger.indexer import ChainIndexer
    from wmnet.ledger.valuation import Valuation
    from wmnet.localnet.network import client_for

    valuation = Valuation.from_config(tao_price, currency)

    async def run() -> list[int]:
        async with client_for(chain_url) as client:
            indexer = ChainIndexer(
                sessions, client, netuid, network=chain_url, valuation=valuation, backfill=10_000
            )
            return await indexer.sync()

    return asyncio.run(run())


def ledger_reports(sessions: sessionmaker[Session], currency: str) -> dict[str, dict[str, Any]]:
    """The ledger's reports by workload, by miner and by epoch (the demo's ledger holds
    one subnet only)."""
    from wmnet.ledger.reports import ReportQuery, build_report

    with sessions() as session:
        return {
            by: build_report(session, ReportQuery(by=by, currency=currency))
            for by in ("workload", "miner", "epoch")
        }


def summary(
    reports: dict[str, dict[str, Any]], miners: list[MinerRow], incentive: dict[int, float]
) -> dict[str, Any]:
    """The final report as one JSON object: ``workloads`` keyed by workload type,
    ``totals`` over them, the ``prices`` that valued the emission, and ``miners`` with
    each one's final incentive and whether it cheated."""
    by_workload = {row["workload"]: row for row in reports["workload"]["rows"]}
    workloads = {}
    for workload in WORKLOADS:
        row = by_workload[workload]
        workloads[workload] = {
            "emission_alpha": row["emission_alpha"],
            "emission_alpha_rao": row["emission_alpha_rao"],
            "emission_tao": row["emission_tao"],
            "emission_tao_rao": row["emission_tao_rao"],
            "emission_value": row["emission_value"],
            "emission_value_micro": row["emission_value_micro"],
            "revenue": row["revenue"],
            "revenue_micro": row["revenue_micro"],
            "subsidy_ratio": row["subsidy_ratio"],  # null when ∞ or n/a: see the text
            "subsidy_ratio_text": row["subsidy_ratio_text"],
            "utilization": row["utilization"],
            "utilization_text": row["utilization_text"],
            "requests_organic": row["requests_organic"],
            "requests_synthetic": row["requests_synthetic"],
            "requests_verified": row["requests_verified"],
            "requests_failed": row["requests_failed"],
            "units": row["units"],
        }
    emission = {row["uid"]: row for row in reports["miner"]["rows"]}
    totals = reports["workload"]["totals"]
    prices = reports["workload"]["prices"]
    return {
        "currency": reports["workload"]["currency"],
        "workloads": workloads,
        "totals": {
            key: totals[key]
            for key in (
                "emission_alpha",
                "emission_alpha_rao",
                "emission_tao",
                "emission_tao_rao",
                "emission_value",
                "emission_value_micro",
                "revenue",
                "revenue_micro",
                "subsidy_ratio",
                "subsidy_ratio_text",
                "requests_verified",
                "requests_failed",
            )
        },  # fmt: skip
        "prices": {
            "alpha_price": prices["alpha_price"]["latest"],  # TAO per alpha
            "alpha_price_source": prices["alpha_price"]["latest_source"],
            "tao_price": prices["tao_price"]["latest"],  # currency per TAO
            "tao_price_source": prices["tao_price"]["latest_source"],
        },
        "miners": [
            {
                "uid": m.uid,
                "hotkey": m.hotkey,
                "label": m.label,
                "cheater": m.cheater,
                "incentive": round(incentive.get(m.uid, 0.0), 6),
                "emission_alpha": emission[m.uid]["emission_alpha"] if m.uid in emission else "0",
                "emission_tao": emission[m.uid]["emission_tao"] if m.uid in emission else "0",
            }
            for m in miners
        ],
    }


def failures(report: dict[str, Any], served: int, retries_charged: int) -> list[str]:
    """What the demo promised and the report does not show (empty: all good)."""
    out = []
    for workload, row in report["workloads"].items():
        if row["emission_alpha_rao"] <= 0:
            out.append(f"no emission was attributed to {workload}")
        if row["utilization"] is None:
            out.append(f"no utilization for {workload} (no capacity reports in the ledger)")
    rollout = report["workloads"]["rollout"]
    if served == 0 or rollout["revenue_micro"] <= 0:
        out.append("the customer bought no rollout through the gateway")
    elif rollout["subsidy_ratio"] is None:
        out.append(f"no subsidy ratio for rollouts ({rollout['subsidy_ratio_text']})")
    if retries_charged:
        out.append(f"{retries_charged} retried order(s) were charged twice")
    for miner in report["miners"]:
        if miner["cheater"] and miner["incentive"] != 0:
            out.append(f"the cheater (uid {miner['uid']}) has incentive {miner['incentive']}")
        if not miner["cheater"] and miner["incentive"] <= 0:
            out.append(f"honest miner uid {miner['uid']} has no incentive")
    return out


def _print_table(console: Console, title: str, header: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in header:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_report(
    console: Console, reports: dict[str, dict[str, Any]], final: dict[str, Any]
) -> None:
    """The ledger's table per workload, then the miners with their final incentive."""
    from wmnet.ledger.render import table_rows

    _print_table(console, "ledger report by workload", *table_rows(reports["workload"]))
    prices = final["prices"]
    console.print(
        f"valued at {prices['alpha_price'] or 'n/a'} TAO per alpha ({prices['alpha_price_source']})"
        f" and {prices['tao_price'] or 'n/a'} {final['currency']} per TAO"
        f" ({prices['tao_price_source']})"
    )
    for note in reports["workload"]["notes"]:
        console.print(f"note: {note}")
    _print_table(
        console,
        "miners",
        ["uid", "hotkey", "miner", "incentive", "emission α", "emission TAO", "cheater"],
        [
            [
                str(m["uid"]),
                m["hotkey"][:10] + "…",
                m["label"],
                f"{m['incentive']:.4f}",
                m["emission_alpha"],
                m["emission_tao"] or "n/a",
                "yes" if m["cheater"] else "no",
            ]
            for m in final["miners"]
        ],  # fmt: skip
    )


def plot(reports: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """PNGs: emission vs revenue per workload and per miner (log scale, with the subsidy
    ratio), and emission, revenue, utilization and requests per epoch over time."""
    from wmnet.ledger.render import plot as draw

    return [draw(reports[by], out / f"ledger-by-{by}.png") for by in ("workload", "miner", "epoch")]
