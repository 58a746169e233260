"""The chain indexer against an in-process chain through the real SDK: exact
reconciliation with the chain's own epoch history, idempotence, and a crash mid-epoch
that leaves whole epochs only and resumes without double counting."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.ledger.conftest import set_weights, subnet_with_miners
from tests.localnet.served_thread import served
from wmnet.ledger import indexer as indexer_module
from wmnet.ledger.indexer import ChainIndexer, owner_cut_rao
from wmnet.ledger.models import Epoch, EpochEmission, Subsidy
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.ledger.valuation import Valuation
from wmnet.neurons.cli import app
from wmnet.protocol.usage import WeightAttribution

runner = CliRunner()
VALUATION = Valuation(currency="USD", tao_price_micro=250_000_000, tao_price_source="test")


def chain_miner_emission(chain, netuid: int) -> dict[int, int]:
    """block → the miners' (server) emission, from the chain's own records."""
    out: dict[int, int] = defaultdict(int)
    for row in chain.epoch_history(netuid):
        out[row["block"]] += row["server_emission"]
    return dict(out)


def ledger_totals(sessions, netuid: int) -> dict[int, tuple[int, int, int]]:
    """block → (miner emission, per-UID miner rows, subsidies) from the ledger."""
    with sessions() as session:
        out = {}
        for epoch in session.scalars(select(Epoch).where(Epoch.netuid == netuid)):
            rows = session.scalar(
                select(func.coalesce(func.sum(EpochEmission.emission_alpha_rao), 0)).where(
                    EpochEmission.epoch_id == epoch.id, EpochEmission.role == "miner"
                )
            )
            subsidy = session.scalar(
                select(func.coalesce(func.sum(Subsidy.emission_alpha_rao), 0)).where(
                    Subsidy.epoch_id == epoch.id
                )
            )
            out[epoch.block] = (epoch.miner_emission_alpha_rao, int(rows), int(subsidy))
        return out


async def test_indexer_reconciles_with_the_chain_and_is_idempotent(client, chain, sessions):
    subnet = await subnet_with_miners(client, chain)
    await set_weights(client, subnet, [0.5, 0.3, 0.2])
    LedgerUsageSink(sessions).record_attribution(
        [
            WeightAttribution(
                time=0,
                netuid=subnet.netuid,
                block=0,
                validator_hotkey=subnet.validator_hotkey,
                miner_uid=uid,
                miner_hotkey=hotkey,
                weight=w,
                by_workload={"rollout": 0.7, "train_shard": 0.3},
            )  # fmt: skip
            for uid, hotkey, w in zip(
                subnet.miner_uids, subnet.miner_hotkeys, [0.5, 0.3, 0.2], strict=True
            )
        ]
    )
    chain.advance(4 * (subnet.tempo + 1))
    indexer = ChainIndexer(sessions, client, subnet.netuid, network="test", valuation=VALUATION)
    stored = await indexer.sync()
    expected = chain_miner_emission(chain, subnet.netuid)
    assert stored == sorted(expected)
    totals = ledger_totals(sessions, subnet.netuid)
    assert set(totals) == set(expected)
    assert sum(expected.values()) > 0
    for block, miner in expected.items():
        assert totals[block] == (miner, miner, miner), block  # exact, to the rao
    # Validator and owner emission reconcile as well.
    history = chain.epoch_history(subnet.netuid)
    with sessions() as session:
        uid_total = session.scalar(select(func.sum(Epoch.uid_emission_alpha_rao)))
        roles = dict(
            session.execute(
                select(EpochEmission.role, func.count()).group_by(EpochEmission.role)
            ).all()
        )
    assert uid_total == sum(r["emission"] for r in history)
    assert roles.keys() == {"owner", "validator", "miner"}

    assert await indexer.sync() == []  # nothing new, nothing doubled
    chain.advance(subnet.tempo + 1)
    assert len(await indexer.sync()) == 1
    assert (
        ledger_totals(sessions, subnet.netuid).keys()
        == chain_miner_emission(chain, subnet.netuid).keys()
    )


async def test_crash_mid_epoch_leaves_whole_epochs_and_resumes(
    client, chain, sessions, monkeypatch
):
    subnet = await subnet_with_miners(client, chain)
    await set_weights(client, subnet, [0.6, 0.3, 0.1])
    chain.advance(5 * (subnet.tempo + 1))
    expected = chain_miner_emission(chain, subnet.netuid)

    real = indexer_module.attribute_epoch
    calls = {"n": 0}

    def crash_on_third(session, epoch):
        calls["n"] += 1
        if calls["n"] == 3:  # the epoch and its per-UID rows are flushed by now
            raise KeyboardInterrupt("killed mid-epoch")
        real(session, epoch)

    monkeypatch.setattr(indexer_module, "attribute_epoch", crash_on_third)
    indexer = ChainIndexer(sessions, client, subnet.netuid, network="test", valuation=VALUATION)
    with pytest.raises(KeyboardInterrupt):
        await indexer.sync()
    partial = ledger_totals(sessions, subnet.netuid)
    assert len(partial) == 2  # the third epoch rolled back whole
    assert all(m == rows == s for m, rows, s in partial.values())
    with sessions() as session:
        orphans = session.scalar(
            select(func.count())
            .select_from(EpochEmission)
            .where(EpochEmission.epoch_id.not_in(select(Epoch.id)))
        )
    assert orphans == 0

    monkeypatch.setattr(indexer_module, "attribute_epoch", real)
    restarted = ChainIndexer(sessions, client, subnet.netuid, network="test", valuation=VALUATION)
    assert len(await restarted.sync()) == len(expected) - 2
    totals = ledger_totals(sessions, subnet.netuid)
    assert {b: t[0] for b, t in totals.items()} == expected
    assert all(m == rows == s for m, rows, s in totals.values())


def test_owner_cut_inverts_the_chain_split() -> None:
    cut_u16 = 11796
    for emission in (0, 1, 999, 10**9, 11 * 10**9, 123_456_789_012):
        cut = emission * cut_u16 // 65535
        assert owner_cut_rao(emission - cut, cut_u16) == cut


async def test_cli_ingests_a_served_chain(client, chain, sqlite_url) -> None:
    """`wmnet ledger ingest chain` over HTTP (the network seam), then a report."""
    subnet = await subnet_with_miners(client, chain)
    await set_weights(client, subnet, [0.5, 0.3, 0.2])
    chain.advance(3 * (subnet.tempo + 1))
    expected = chain_miner_emission(chain, subnet.netuid)
    argv = ["ledger", "ingest", "chain", "--netuid", str(subnet.netuid), "--db", sqlite_url,
            "--tao-price", "300", "--json"]  # fmt: skip
    with served(chain) as url:
        result = await asyncio.to_thread(runner.invoke, app, [*argv, "--network", url])
        again = await asyncio.to_thread(runner.invoke, app, [*argv, "--network", url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["epochs"] == sorted(expected)
    assert json.loads(again.output)["epochs"] == []
    report = await asyncio.to_thread(
        runner.invoke, app, ["ledger", "report", "--by", "epoch", "--format", "json",
                             "--db", sqlite_url]
    )  # fmt: skip
    rows = json.loads(report.output)["rows"]
    assert {r["block"]: r["miner_emission_alpha_rao"] for r in rows} == expected
    assert all(r["tao_price_micro"] == 300_000_000 for r in rows)
    down = await asyncio.to_thread(runner.invoke, app, [*argv, "--network", "http://127.0.0.1:9"])
    assert down.exit_code != 0 and "Traceback" not in down.output
