"""Report figures on a ledger with known numbers; the CLI's formats and its refusals of
malformed arguments; the JSON API."""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.ledger.conftest import open_sessions
from tests.ledger.helpers import T0, seed, snapshot, usage
from wmnet.ledger.api import create_app
from wmnet.ledger.models import UsageEvent
from wmnet.ledger.reports import ReportError, ReportQuery, build_report
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.ledger.usage_totals import Window, usage_by, usage_totals
from wmnet.neurons.cli import app

runner = CliRunner()
NETUIDS = itertools.count(100)


def report(sessions, **kwargs) -> dict:
    with sessions() as session:
        return build_report(session, ReportQuery.parse(**kwargs))


def test_workload_figures(sessions) -> None:
    seed(sessions)
    data = report(sessions, by="workload")
    rows = {r["workload"]: r for r in data["rows"]}
    rollout, shard = rows["rollout"], rows["train_shard"]
    assert (rollout["requests_organic"], rollout["requests_synthetic"]) == (1, 2)
    assert (rollout["units"], rollout["device_seconds"]) == (32, 5.0)
    # Capacity: 2 miners x 2 slots x (100 s + 100 s) of rollout.
    assert rollout["offered_slot_seconds"] == 800.0
    assert rollout["utilization"] == pytest.approx(5.0 / 800.0)
    assert shard["utilization"] is None and shard["utilization_text"] == "n/a"
    # Emissions: 4 TAO + 4 TAO + 1 rao of miner emission over two epochs, split exactly.
    assert rollout["emission_alpha_rao"] + shard["emission_alpha_rao"] == 8 * 10**9 + 1
    assert rollout["emission_alpha_rao"] == pytest.approx(6 * 10**9, abs=4)
    # At 300 USD/TAO and 1 alpha = 1 TAO; revenue: one charge of 16 steps at 0.25 USD.
    assert rollout["revenue_micro"] == 4_000_000
    assert rollout["emission_value_micro"] == pytest.approx(1_800_000_000, abs=2)
    assert rollout["subsidy_ratio"] == pytest.approx(450.0, rel=1e-8)
    assert shard["revenue_micro"] == 0
    assert shard["subsidy_ratio"] is None and shard["subsidy_ratio_text"] == "∞"
    assert any("∞" in note and "train_shard" in note for note in data["notes"])
    assert float(rollout["cost_per_unit"]) == pytest.approx(1800.0 / 32, rel=1e-8)
    assert data["totals"]["emission_alpha_rao"] == 8 * 10**9 + 1


def test_miner_epoch_and_window(sessions) -> None:
    seed(sessions)
    miners = {r["hotkey"]: r for r in report(sessions, by="miner")["rows"]}
    assert miners["miner-a"]["emission_alpha_rao"] == 6 * 10**9
    assert miners["miner-b"]["emission_alpha_rao"] == 2 * 10**9 + 1
    assert miners["miner-b"]["revenue_micro"] == 4_000_000  # joined by request id
    epochs = report(sessions, by="epoch")["rows"]
    assert [e["block"] for e in epochs] == [100, 200]
    assert [e["miner_emission_alpha_rao"] for e in epochs] == [4 * 10**9, 4 * 10**9 + 1]
    assert sum(epochs[1]["subsidy_by_workload_alpha_rao"].values()) == 4 * 10**9 + 1
    assert epochs[0]["units"] == 32 and epochs[1]["units"] == 100
    window = report(sessions, by="workload", since=str(T0 + 150), until=str(T0 + 250))
    rows = {r["workload"]: r for r in window["rows"]}
    assert rows["rollout"]["requests_synthetic"] == 1  # r4 only
    alpha = rows["rollout"]["emission_alpha_rao"] + rows["train_shard"]["emission_alpha_rao"]
    assert alpha == 4 * 10**9 + 1
    assert report(sessions, by="workload", netuid="99")["totals"]["units"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "customers"], "--by must be one of workload, miner, epoch, customer"),
        (["--since", "yesterday"], "--since 'yesterday' is not a time"),
        (["--until", "2025-13-01"], "--until '2025-13-01' is not a time"),
        (["--since", "2025-06-02", "--until", "2025-06-01"], "--since must be before --until"),
        (["--netuid", "abc"], "--netuid must be an integer"),
        (["--netuid", "70000"], "--netuid must be in 0..65535"),
        (["--format", "xml"], "--format must be one of table, json, csv"),
        (["--plot", "out.jpg"], "--plot writes a PNG"),
        (["--db", "not a url"], "--db is not a database URL"),
        (["--currency", "US$"], "currency must be a short code"),
    ],
)
def test_malformed_report_arguments_fail_clearly(args, message, sqlite_url) -> None:
    argv = ["ledger", "report", *args]
    if "--db" not in args:
        argv += ["--db", sqlite_url]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output  # a usage error
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_report_query_refuses_directly() -> None:
    with pytest.raises(ReportError):
        ReportQuery.parse(by="epochs")


def test_cli_formats_and_plot(sqlite_url: str, tmp_path: Path) -> None:
    seed(open_sessions(sqlite_url))
    base = ["ledger", "report", "--db", sqlite_url]
    as_json = runner.invoke(app, [*base, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert {r["workload"] for r in data["rows"]} == {"rollout", "train_shard"}
    as_csv = runner.invoke(app, [*base, "--by", "epoch", "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    lines = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [int(r["block"]) for r in lines] == [100, 200]
    assert int(lines[1]["subsidy_by_workload_alpha_rao:rollout"]) > 0
    png = tmp_path / "out.png"
    table = runner.invoke(app, [*base, "--by", "miner", "--plot", str(png)])
    assert table.exit_code == 0, table.output
    assert "miner-a" in table.output and "∞" in table.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_ingest_usage_and_prices(sqlite_url: str, tmp_path: Path) -> None:
    from wmnet.validator.usage import JsonlUsageSink

    path = tmp_path / "u.jsonl"
    JsonlUsageSink(path).record(usage("z1", T0, 2, "rollout", 3, 0.3))
    result = runner.invoke(app, ["ledger", "ingest", "usage", str(path), "--db", sqlite_url,
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["events"] == 1
    assert runner.invoke(app, ["ledger", "price", "set", "rollout", "0.0005", "--db",
                               sqlite_url]).exit_code == 0  # fmt: skip
    bad = runner.invoke(app, ["ledger", "price", "set", "rollout", "cheap", "--db", sqlite_url])
    assert bad.exit_code != 0 and "decimal" in bad.output
    added = runner.invoke(app, ["ledger", "customer", "add", "acme", "--credit", "10",
                                "--db", sqlite_url])  # fmt: skip
    assert added.exit_code == 0 and "wmk_" in added.output


def test_api_serves_the_report_and_refuses_bad_arguments(sessions) -> None:
    seed(sessions)
    client = TestClient(create_app(sessions))
    body = client.get("/api/report", params={"by": "workload"}).json()
    assert body == report(sessions, by="workload")
    assert client.get("/api/report", params={"by": "epoch", "netuid": "7"}).status_code == 200
    bad = client.get("/api/report", params={"since": "soon"})
    assert bad.status_code == 400 and "--since" in bad.json()["detail"]
    page = client.get("/")
    assert page.status_code == 200 and "chart-workload" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    script = client.get("/static/echarts.common.min.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert b"echarts" in script.content[:4000] and len(script.content) > 100_000
    assert "Apache License" in client.get("/static/ECHARTS-LICENSE").text
    assert client.get("/static/secrets.txt").status_code == 404
    assert client.get("/static/..%2Fapi.py").status_code == 404


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    times=st.lists(st.floats(0, 5 * 3600), min_size=1, max_size=40),
    window=st.tuples(st.floats(-100, 6 * 3600), st.floats(-100, 6 * 3600)),
)
def test_hourly_rollups_give_the_same_usage_as_the_events(sqlite_url, times, window) -> None:
    """Whole hours from the rollups plus partial hours from the events equal a scan of
    the events, for any window."""
    sessions = open_sessions(sqlite_url)
    netuid = next(NETUIDS)
    LedgerUsageSink(sessions).record_many(
        [
            usage(f"h{netuid}-{i}", T0 + t, 2 + i % 2, ("rollout", "train_shard")[i % 2], i,
                  0.5, origin=("organic", "synthetic")[i % 3 == 0]).model_copy(
                      update={"netuid": netuid})
            for i, t in enumerate(times)
        ]
    )  # fmt: skip
    since, until = sorted(window)
    if since == until:
        until += 1
    w = Window(since=T0 + since, until=T0 + until, netuid=netuid)
    with sessions() as session:
        fast = usage_totals(session, w, "workload")
        scan = usage_by(session, w, UsageEvent.workload)
    assert {k: v for k, v in fast.items() if v.organic + v.synthetic} == {
        k: v for k, v in scan.items() if v.organic + v.synthetic
    }
    sessions.kw["bind"].dispose()


def _floor_tao(alpha_rao: int, price_tao_rao: int) -> int:
    return alpha_rao * price_tao_rao // 10**9


def test_tao_column_is_alpha_times_the_alpha_price(sessions) -> None:
    """At 0.05 TAO per alpha the TAO column is 0.05 × the alpha column (each epoch's part
    floored to the rao), and the currency column is that TAO at 300 USD, in every
    grouping, in the totals and in the CLI's formats."""
    seed(sessions, alpha_price_tao_rao=50_000_000)
    for by in ("workload", "miner", "epoch"):
        data = report(sessions, by=by)
        for row in [*data["rows"], data["totals"]]:
            alpha, tao = row["emission_alpha_rao"], row["emission_tao_rao"]
            # Floored once per epoch (and workload): at most 2 × 2 parts of a rao lost.
            assert 0 <= Fraction(alpha, 20) - tao < 4, (by, row["key"])
            assert Decimal(row["emission_tao"]) == Decimal(tao) / 10**9
            assert Decimal(row["emission_alpha"]) == Decimal(alpha) / 10**9
            # The currency value is that TAO at 300 USD, to the same flooring.
            assert abs(row["emission_value_micro"] - Fraction(tao * 300, 1000)) < 4
            assert Decimal(row["emission_value"]) == Decimal(row["emission_value_micro"]) / 10**6
    miners = {r["hotkey"]: r for r in report(sessions, by="miner")["rows"]}
    a = miners["miner-a"]  # 3 α in each of two epochs: exact
    assert (a["emission_alpha"], a["emission_tao"], a["emission_value"]) == ("6", "0.3", "90")
    assert a["emission_tao_rao"] == 6 * 10**9 // 20
    b = miners["miner-b"]  # 1 α, then 1 α + 1 rao: 0.05 rao floors away
    assert b["emission_tao_rao"] == _floor_tao(10**9, 50_000_000) * 2
    epochs = report(sessions, by="epoch")["rows"]
    assert [e["alpha_price"] for e in epochs] == ["0.05", "0.05"]
    assert [e["total_emission_tao_rao"] for e in epochs] == [
        _floor_tao(e["total_emission_alpha_rao"], 50_000_000) for e in epochs
    ]
    rollout = {r["workload"]: r for r in report(sessions, by="workload")["rows"]}["rollout"]
    assert rollout["subsidy_ratio"] == pytest.approx(
        rollout["emission_value_micro"] / 4_000_000, rel=1e-12
    )


def test_csv_and_json_name_their_units(sqlite_url: str) -> None:
    seed(open_sessions(sqlite_url), alpha_price_tao_rao=50_000_000)
    for by in ("workload", "miner", "epoch"):
        out = runner.invoke(app, ["ledger", "report", "--by", by, "--format", "csv",
                                  "--db", sqlite_url])  # fmt: skip
        assert out.exit_code == 0, out.output
        lines = list(csv.DictReader(io.StringIO(out.output)))
        assert {"emission_alpha_rao", "emission_alpha", "emission_tao_rao", "emission_tao",
                "emission_value_micro", "emission_value", "revenue_micro",
                "revenue"} <= set(lines[0])  # fmt: skip
        assert not {"emission_rao", "revenue_text", "emission_value_text"} & set(lines[0])
        for line in lines:
            assert int(line["emission_tao_rao"]) * 20 <= int(line["emission_alpha_rao"])
        as_json = json.loads(
            runner.invoke(
                app, ["ledger", "report", "--by", by, "--format", "json", "--db", sqlite_url]
            ).output  # fmt: skip
        )
        assert [str(r["emission_tao_rao"]) for r in as_json["rows"]] == [
            line["emission_tao_rao"] for line in lines
        ]
    epoch_csv = runner.invoke(app, ["ledger", "report", "--by", "epoch", "--format", "csv",
                                    "--db", sqlite_url]).output  # fmt: skip
    first = next(csv.DictReader(io.StringIO(epoch_csv)))
    assert first["alpha_price"] == "0.05" and first["alpha_price_tao_rao"] == "50000000"
    split = [int(v) for k, v in first.items() if k.startswith("subsidy_by_workload_alpha_rao:")]
    assert sum(split) == int(first["miner_emission_alpha_rao"]) == 4 * 10**9
    table = runner.invoke(app, ["ledger", "report", "--db", sqlite_url])
    assert "emission α" in table.output and "emission TAO" in table.output
    assert "emission USD" in table.output


def test_report_without_an_alpha_price_gives_no_tao_value(sessions) -> None:
    """An epoch nobody priced keeps its alpha but gets no TAO or currency value, and the
    report says why (never 1 α = 1 TAO by assumption)."""
    from wmnet.ledger.indexer import store_epoch
    from wmnet.ledger.valuation import AlphaPrice, PriceOrigin, Valuation

    seed(sessions)
    missing = snapshot(300, T0 + 300, (10**9, 10**9))
    missing = replace(missing, alpha_price=AlphaPrice(None, PriceOrigin.MISSING, "missing"))
    store_epoch(sessions, missing, Valuation(tao_price_micro=300_000_000), "test")
    data = report(sessions, by="miner")
    assert all(r["emission_tao_rao"] is None and r["emission_tao"] is None for r in data["rows"])
    assert all(r["emission_value_micro"] is None for r in data["rows"])
    assert data["rows"][0]["subsidy_ratio_text"] == "n/a"
    assert any("1 epoch(s) have no alpha price" in note for note in data["notes"])
    assert data["prices"]["alpha_price"]["epochs_by_origin"] == {"chain": 2, "missing": 1}
    before = report(sessions, by="miner", until=str(T0 + 250))  # the priced epochs only
    assert before["totals"]["emission_tao_rao"] == 8 * 10**9 + 1


def test_customers_prices_and_verified_counts(sessions) -> None:
    made = seed(sessions)
    made["billing"].create_customer("idle co", credit_micro=1_000_000)
    data = report(sessions, by="customer")
    rows = {r["name"]: r for r in data["rows"]}
    assert [r["name"] for r in data["rows"]] == ["acme", "idle co"]  # biggest payer first
    acme = rows["acme"]
    assert (acme["charges"], acme["units"], acme["revenue_micro"]) == (1, 16, 4_000_000)
    assert (acme["revenue"], acme["credit"], acme["revenue_share"]) == ("4", "6", 1.0)
    assert acme["revenue_by_workload_micro"] == {"rollout": 4_000_000}
    assert rows["idle co"]["charges"] == 0 and rows["idle co"]["revenue_share"] == 0.0
    assert data["totals"]["revenue_micro"] == 4_000_000
    assert data["totals"]["credit_micro"] == 7_000_000
    assert data["totals"]["paying_customers"] == 1
    workload = report(sessions, by="workload")
    # The customers' revenue is the workload report's revenue.
    assert workload["totals"]["revenue_micro"] == data["totals"]["revenue_micro"]
    rollout = {r["workload"]: r for r in workload["rows"]}["rollout"]
    assert (rollout["requests_verified"], rollout["requests_failed"]) == (2, 1)
    prices = workload["prices"]
    assert prices["alpha_price"]["latest"] == "1" and prices["tao_price"]["latest"] == "300"
    assert prices["alpha_price"]["epochs_by_origin"] == {"chain": 2}
    assert prices["workload_prices"]["rollout"]["per_unit"] == "0.25"
    assert workload["latest"]["epoch_block"] == 200
    assert workload["latest"]["usage_time"] == T0 + 160
    table = runner.invoke(app, ["ledger", "report", "--by", "customer", "--db",
                                str(sessions.kw["bind"].url)])  # fmt: skip
    assert table.exit_code == 0 and "acme" in table.output and "credit left" in table.output


def test_hour_and_day_rows_add_up_to_the_window(sessions) -> None:
    """Per hour and per day (UTC): every period from the first to the last with data,
    and their sums equal the whole window's figures."""
    from wmnet.ledger.indexer import store_epoch
    from wmnet.ledger.valuation import Valuation

    made = seed(sessions, alpha_price_tao_rao=50_000_000)
    later = T0 + 3 * 86_400 + 7200  # three days on: one more epoch, probe and charge
    valuation = Valuation(currency="USD", tao_price_micro=300_000_000)
    store_epoch(sessions, snapshot(900, later, (10**9, 10**9), 50_000_000), valuation, "t")
    LedgerUsageSink(sessions).record(usage("late", later + 5, 2, "rollout", 8, 1.5))
    made["billing"].clock = lambda: later + 9
    made["billing"].charge(made["customer"], "idem-late", "rollout", 4)
    whole = report(sessions, by="workload")["totals"]
    for by, period_s in (("hour", 3600), ("day", 86_400)):
        data = report(sessions, by=by)
        starts = [r["period_start"] for r in data["rows"]]
        assert starts == [starts[0] + i * period_s for i in range(len(starts))]  # no gaps
        assert starts[0] <= T0 + 10 < starts[0] + period_s and starts[-1] <= later
        for field in ("requests_organic", "requests_synthetic", "requests_failed", "units",
                      "emission_alpha_rao", "emission_tao_rao", "emission_value_micro",
                      "revenue_micro", "offered_slot_seconds"):  # fmt: skip
            assert data["totals"][field] == whole[field], (by, field)
        assert sum(r["emission_alpha_rao"] > 0 for r in data["rows"]) == 2
    days = report(sessions, by="day")["rows"]
    assert len(days) == 4 and days[1]["units"] == 0 and days[1]["revenue_micro"] == 0
    assert days[3]["revenue_micro"] == 1_000_000 and days[3]["units"] == 8
    window = report(sessions, by="hour", since=str(later - 1))
    assert [r["units"] for r in window["rows"]] == [8]


def test_too_many_periods_is_a_clear_refusal(sessions, monkeypatch) -> None:
    from wmnet.ledger import periods_report

    seed(sessions)
    monkeypatch.setattr(periods_report, "MAX_PERIODS", 0)
    with pytest.raises(ReportError, match="narrow it with --since/--until"):
        report(sessions, by="hour")
    bad = TestClient(create_app(sessions)).get("/api/report", params={"by": "hour"})
    assert bad.status_code == 400 and "--by day" in bad.json()["detail"]


def test_offered_by_period_splits_capacity_at_boundaries() -> None:
    from types import SimpleNamespace

    from wmnet.ledger.capacity_math import offered_by_period, offered_slot_seconds

    reports = [
        SimpleNamespace(hotkey=h, time=t, slots=s, window_s=w, workloads="rollout")
        for h, t, s, w in [("a", 3500, 2, 100), ("a", 3700, 2, 300), ("b", 7300, 1, 3700)]
    ]
    split = offered_by_period(reports, None, None, 3600)
    # a: [3400, 3500] and [3500, 3700] at 2 slots; b: [3600, 7300] at 1 slot.
    assert split == {0: pytest.approx(400), 1: pytest.approx(200 + 3600), 2: pytest.approx(100)}
    total = sum(offered_slot_seconds(reports, None, None, by="hotkey").values())
    assert sum(split.values()) == pytest.approx(total)
    window = offered_by_period(reports, 3550, 3650, 3600)
    assert window == {0: pytest.approx(2 * 50), 1: pytest.approx(2 * 50 + 1 * 50)}


@pytest.mark.parametrize("by", ["workload", "miner", "epoch", "day", "customer"])
def test_plots_keep_units_apart_and_revenue_visible(sqlite_url: str, by: str) -> None:
    """Every axis names one unit; emission and revenue share an axis only in currency, on
    a log scale; without a TAO price emission is drawn in TAO alone."""
    from wmnet.ledger import plots

    sessions = open_sessions(sqlite_url)
    seed(sessions, alpha_price_tao_rao=50_000_000)
    for data in (report(sessions, by=by), _unvalued(report(sessions, by=by))):
        drawn = plots.figure(data)
        try:
            labels = [axis.get_ylabel() or axis.get_xlabel() for axis in drawn.axes]
            assert all(labels), labels  # every axis says what it measures
            money_axes = 0
            for axis in drawn.axes:
                names = [line.get_label() for line in axis.get_lines()]
                names += [c.get_label() for c in axis.containers]
                units = {u for u in ("USD", "TAO") if any(u in n for n in names)}
                assert len(units) <= 1, names  # never TAO and USD on one axis
                if any("emission" in n for n in names):
                    money_axes += 1
                    assert axis.get_yscale() == "log"
                    unit = "USD" if data["rows"][0]["emission_value_micro"] is not None else "TAO"
                    assert unit in axis.get_ylabel(), axis.get_ylabel()
            assert money_axes == (0 if by == "customer" else 1)
        finally:
            import matplotlib.pyplot as plt

            plt.close(drawn)


def _unvalued(data: dict) -> dict:
    """The same report as if no TAO price had been configured."""
    rows = [{**r, "emission_value_micro": None} for r in data["rows"]]
    return {**data, "rows": rows}


def test_demo_summary_names_units_and_prices(sessions, tmp_path: Path) -> None:
    """The demo's JSON (``wmnet demo --json``) is the ledger's figures with their units:
    at 0.05 TAO per alpha its TAO amounts are 0.05 × its alpha amounts."""
    from wmnet.neurons import demo_report
    from wmnet.neurons.demo_display import MinerRow

    seed(sessions, alpha_price_tao_rao=50_000_000)
    reports = demo_report.ledger_reports(sessions, "USD")
    miners = [MinerRow(0, 2, "miner-a", "honest", False), MinerRow(1, 3, "miner-b", "cheat", True)]
    final = demo_report.summary(reports, miners, {2: 0.7, 3: 0.0})
    rollout = final["workloads"]["rollout"]
    assert Fraction(rollout["emission_tao_rao"]) == pytest.approx(
        Fraction(rollout["emission_alpha_rao"], 20), abs=2
    )
    assert rollout["emission_value"] == reports["workload"]["rows"][0]["emission_value"]
    assert not {"emission_rao", "revenue_text"} & set(rollout)
    assert final["totals"]["emission_alpha_rao"] == 8 * 10**9 + 1
    assert final["prices"]["alpha_price"] == "0.05" and final["prices"]["tao_price"] == "300"
    by_uid = {m["uid"]: m for m in final["miners"]}
    assert (by_uid[2]["emission_alpha"], by_uid[2]["emission_tao"]) == ("6", "0.3")
    # The seed's capacity reports offer rollouts only: the one check that fails.
    assert demo_report.failures(final, served=1, retries_charged=0) == [
        "no utilization for train_shard (no capacity reports in the ledger)"
    ]
    paths = demo_report.plot(reports, tmp_path)
    assert [p.name for p in paths] == [
        "ledger-by-workload.png",
        "ledger-by-miner.png",
        "ledger-by-epoch.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
