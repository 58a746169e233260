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
from wmnet.ledger.reports import ReportQuery, build_report
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.ledger.valuation import Valuation
from wmnet.localnet.runtime_api import RUNTIME
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


SPOT = ("SwapRuntimeApi", "current_alpha_price")


async def test_alpha_price_comes_from_the_chain_at_each_epoch(
    client, chain, sessions, monkeypatch
) -> None:
    """The runtime's spot price at the epoch's block (here 0.05 TAO per alpha) is what the
    ledger records and what values the TAO column; the pool reserves are kept beside it.
    Without the runtime API the reserves' ratio prices it (1:1 on wmnet's chain)."""
    subnet = await subnet_with_miners(client, chain)
    await set_weights(client, subnet, [0.6, 0.3, 0.1])
    monkeypatch.setitem(RUNTIME._entries, SPOT, lambda state, params: 50_000_000)
    chain.advance(3 * (subnet.tempo + 1))
    indexer = ChainIndexer(sessions, client, subnet.netuid, network="test", valuation=VALUATION)
    assert await indexer.sync()
    monkeypatch.delitem(RUNTIME._entries, SPOT)
    chain.advance(subnet.tempo + 1)
    assert len(await indexer.sync()) == 1
    with sessions() as session:
        epochs = list(session.scalars(select(Epoch).order_by(Epoch.block)))
        report = build_report(session, ReportQuery(by="epoch"))
    *spot, fallback = epochs
    assert sum(e.miner_emission_alpha_rao for e in spot) > 0
    for epoch in spot:
        assert (epoch.alpha_price_tao_rao, epoch.alpha_price_origin) == (50_000_000, "chain")
        assert "current_alpha_price" in epoch.alpha_price_source
        assert (epoch.pool_tao_rao, epoch.pool_alpha_rao) == (10**9, 10**9)
    assert (fallback.alpha_price_tao_rao, fallback.alpha_price_origin) == (10**9, "chain")
    assert "tao_in/alpha_in" in fallback.alpha_price_source
    for row, epoch in zip(report["rows"], epochs, strict=True):
        price = epoch.alpha_price_tao_rao
        assert row["emission_alpha_rao"] == epoch.miner_emission_alpha_rao
        assert row["emission_tao_rao"] == epoch.miner_emission_alpha_rao * price // 10**9
        # 250 USD per TAO: the currency value follows the TAO value, not the alpha.
        assert row["emission_value_micro"] == (
            epoch.miner_emission_alpha_rao * price * 250_000_000 // 10**18
        )


async def test_cli_alpha_price_overrides_the_chain(client, chain, sqlite_url) -> None:
    """`ingest chain --alpha-price 0.05`: the TAO column is 0.05 × the alpha column and
    the currency column is that TAO at --tao-price; a zero or negative price is refused."""
    subnet = await subnet_with_miners(client, chain)
    await set_weights(client, subnet, [0.5, 0.3, 0.2])
    chain.advance(2 * (subnet.tempo + 1))
    argv = ["ledger", "ingest", "chain", "--netuid", str(subnet.netuid), "--db", sqlite_url,
            "--tao-price", "300", "--alpha-price", "0.05"]  # fmt: skip
    with served(chain) as url:
        result = await asyncio.to_thread(runner.invoke, app, [*argv, "--network", url])
        for bad in ("0", "-1", "cheap"):
            refused = await asyncio.to_thread(
                runner.invoke, app, [*argv[:-1], bad, "--network", url]
            )
            assert refused.exit_code != 0 and "--alpha-price" in refused.output, bad
            assert "Traceback" not in refused.output
    assert result.exit_code == 0, result.output
    out = await asyncio.to_thread(
        runner.invoke, app, ["ledger", "report", "--by", "epoch", "--format", "json",
                             "--db", sqlite_url]
    )  # fmt: skip
    rows = json.loads(out.output)["rows"]
    assert rows
    for row in rows:
        assert (row["alpha_price"], row["alpha_price_origin"]) == ("0.05", "config")
        assert row["emission_tao_rao"] == row["emission_alpha_rao"] * 5 // 100
        assert row["emission_value_micro"] == row["emission_alpha_rao"] * 15 // 1000
