"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright
through ``executable_path``; no browser download), over a ledger with a day of history
written through the ledger's own write paths: the headline figures, the prices, every
chart's data and every table show the JSON API's numbers, the page loads nothing from
anywhere but its server, a bad filter is reported, and screenshots are written under the
test's temporary folder (``dashboard.png`` at 1280×800, ``dashboard-full.png``) for a
person to look at."""

from __future__ import annotations

import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from tests.ledger.conftest import open_sessions
from tests.ledger.helpers import NETUID, OWNER, T0, VALIDATOR, attribution, neuron, seed
from wmnet.ledger.api import create_app
from wmnet.ledger.capacity import store_capacity
from wmnet.ledger.indexer import EpochSnapshot, store_epoch
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.ledger.valuation import AlphaPrice, PriceOrigin, Valuation
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.usage import UsageEvent

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (CI installs Debian's package)"),
    pytest.mark.slow,
]
MINERS = {uid: f"5Miner{uid}HotkeyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX" for uid in range(4, 10)}
CUSTOMERS = ["orbital labs", "pixel farm", "tinker.ai"]
EPOCHS = 24  # every 30 minutes for 12 hours after the seed's two epochs


def history(sessions: sessionmaker[Session], made: dict) -> None:
    """Half a day of a small subnet: six more miners (one of them failing audits), an
    alpha price drifting on chain, probes and customers' rollouts, capacity reports."""
    rng = random.Random(7)
    sink = LedgerUsageSink(sessions)
    sink.record_attribution(
        [attribution(250, uid, hotkey, 1 / 6, {"rollout": 0.8, "train_shard": 0.2})
         for uid, hotkey in MINERS.items()]
    )  # fmt: skip
    billing = made["billing"]
    customers = [billing.top_up(made["customer"], 200_000_000)]
    customers += [billing.create_customer(name, credit_micro=500_000_000)[0] for name in CUSTOMERS]
    valuation = Valuation(currency="USD", tao_price_micro=312_500_000, tao_price_source="config")
    for e in range(EPOCHS):
        t = T0 + 1800 * (e + 1)
        price = 40_000_000 + 250_000 * e  # 0.04 → 0.04575 TAO per alpha
        neurons = [
            neuron(0, OWNER, 0, permit=True),
            neuron(1, VALIDATOR, 4 * 10**9, stake=10**12, dividends=65535, permit=True),
        ]
        neurons += [neuron(uid, hotkey, (uid - 2) * 150_000_000 + rng.randrange(10**7),
                           incentive=1000 * uid) for uid, hotkey in MINERS.items()]  # fmt: skip
        alpha = AlphaPrice(price, PriceOrigin.CHAIN, f"chain: test pool, epoch {e}")
        snapshot = EpochSnapshot(NETUID, 300 + 10 * e, t, 99, OWNER, tuple(neurons), alpha,
                                 11796)  # fmt: skip
        store_epoch(sessions, snapshot, valuation, "test")
        events = []
        for uid, hotkey in MINERS.items():
            for k in range(rng.randrange(2, 6)):
                organic = k == 1 and rng.random() < 0.7  # a customer's rollout
                events.append(UsageEvent(
                    request_id=f"h{e}-{uid}-{k}", time=t - 60 * (k + 1), netuid=NETUID,
                    validator_hotkey=VALIDATOR, miner_uid=uid, miner_hotkey=hotkey,
                    workload="rollout" if k % 3 else "train_shard", units=16,
                    device_seconds=rng.uniform(20, 200),
                    origin="organic" if organic else "synthetic",
                    verified=uid != 9 or k % 2 == 0, reason="ok"))  # fmt: skip
            store_capacity(sessions, CapacityReport(
                hotkey=hotkey, time=t, device="cpu", device_name="cpu", workloads=["rollout"],
                precisions=["fp32"], models_loaded=[], slots=2, queue_limit=8, queue_depth=0,
                free_slots=2, busy_fraction=0.3, window_s=1800.0), netuid=NETUID)  # fmt: skip
        sink.record_many(events)
        for event in events:
            if event.origin == "organic" and event.workload == "rollout":
                billing.clock = lambda t=event.time: t + 1
                customer = customers[rng.randrange(len(customers))]
                billing.charge(customer, f"idem-{event.request_id}", "rollout",
                               rng.randrange(4, 40), request_id=event.request_id)  # fmt: skip


def _serve(sessions: sessionmaker[Session]) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(sessions), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the ledger server did not start"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    sessions.kw["bind"].dispose()


@pytest.fixture
def served(sqlite_url: str) -> Iterator[str]:
    sessions = open_sessions(sqlite_url)
    history(sessions, seed(sessions, alpha_price_tao_rao=40_000_000))
    yield from _serve(sessions)


def series(page, chart: str) -> list[dict]:
    """The series an ECharts instance was given (its option), read in the page."""
    return page.evaluate(
        "(id) => window.wmnetDashboard.charts[id].getOption().series"
        ".map((s) => ({name: s.name, type: s.type, data: s.data}))",
        chart,
    )


def axis_types(page, chart: str) -> dict:
    return page.evaluate(
        "(id) => { const o = window.wmnetDashboard.charts[id].getOption();"
        " return {x: o.xAxis[0].type, y: o.yAxis[0].type}; }",
        chart,
    )


def value(point) -> float | None:
    inner = point["value"] if isinstance(point, dict) else point
    return inner[1] if isinstance(inner, list) else inner


def cells(page, selector: str) -> dict[str, str]:
    return {
        td.get_attribute("data-field"): td.inner_text() for td in page.query_selector_all(selector)
    }


def test_dashboard_shows_the_api_numbers(served: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright not installed")
    api = {by: httpx.get(served + "/api/report", params={"by": by}).json()
           for by in ("workload", "miner", "epoch", "customer")}  # fmt: skip
    workload, totals = api["workload"], api["workload"]["totals"]
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = context.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(served + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.screenshot(path=str(tmp_path / "dashboard.png"))  # 1280×800, what one sees
            page.screenshot(path=str(tmp_path / "dashboard-full.png"), full_page=True)
            assert requested and all(url.startswith(served + "/") for url in requested), requested
            assert any(url.endswith("/static/echarts.common.min.js") for url in requested)
            assert page.get_attribute("body", "data-period") == "epoch"  # 26 epochs: per epoch

            # Headline figures: the workload report's totals, exactly.
            for field in ("emission_value", "emission_tao", "emission_alpha", "revenue",
                          "subsidy_ratio_text", "requests_verified", "requests_failed",
                          "utilization_text"):  # fmt: skip
                node = page.query_selector(f"#headline [data-field='{field}']")
                assert node.get_attribute("data-value") == str(totals[field]), field
            assert totals["requests_failed"] > 0 and totals["subsidy_ratio"] > 1
            paying = page.query_selector("#headline [data-field='paying_customers']")
            assert paying.get_attribute("data-value") == str(
                api["customer"]["totals"]["paying_customers"]
            )

            # Prices assumed.
            prices = workload["prices"]
            assert page.inner_text("#alpha-price") == prices["alpha_price"]["latest"] == "0.04575"
            assert page.inner_text("#tao-price") == prices["tao_price"]["latest"] == "312.5"
            assert page.inner_text("[data-price='rollout']") == "0.25"
            assert "chain" in page.inner_text("#prices")

            # Per workload: the table, and both values on a log axis (revenue is visible).
            for row in workload["rows"]:
                got = cells(page, f"tr[data-workload='{row['workload']}'] td")
                for field in ("workload", "units", "requests_organic", "requests_verified",
                              "requests_failed", "emission_alpha", "emission_tao",
                              "emission_value", "revenue", "subsidy_ratio_text"):  # fmt: skip
                    assert got[field] == str(row[field]), (row["workload"], field)
            total_cells = cells(page, "tr[data-workload='total'] td")
            assert total_cells["emission_tao"] == totals["emission_tao"]
            assert axis_types(page, "chart-workload")["y"] == "log"
            emission, revenue = series(page, "chart-workload")
            assert emission["name"] == "emission (USD)" and revenue["name"] == "revenue (USD)"
            for i, row in enumerate(workload["rows"]):
                assert value(emission["data"][i]) == pytest.approx(
                    row["emission_value_micro"] / 1e6
                )
                expected = row["revenue_micro"] / 1e6 or None  # log axis: no bar for 0
                assert value(revenue["data"][i]) == pytest.approx(expected)
            ratio = series(page, "chart-ratio")[0]["data"]
            assert [value(p) for p in ratio] == [r["subsidy_ratio"] for r in workload["rows"]]
            assert "∞" in page.inner_text("#workload-table")

            # Over time: one point per epoch, each from the epoch report.
            epochs = api["epoch"]["rows"]
            line, bars = series(page, "chart-series")
            assert [p["value"][0] for p in line["data"]] == [1000 * e["time"] for e in epochs]
            assert [value(p) for p in line["data"]] == pytest.approx(
                [e["emission_value_micro"] / 1e6 for e in epochs]
            )
            assert [value(p) for p in bars["data"]] == [
                e["revenue_micro"] / 1e6 or None for e in epochs
            ]
            utilization = series(page, "chart-utilization")[0]["data"]
            assert [value(p) for p in utilization] == [e["utilization"] for e in epochs]
            verified, failed = series(page, "chart-requests")
            assert [value(p) for p in verified["data"]] == [e["requests_verified"] for e in epochs]
            assert [value(p) for p in failed["data"]] == [e["requests_failed"] for e in epochs]

            # Per miner: the table and the top miners' bars.
            for row in api["miner"]["rows"]:
                got = cells(page, f"#miner-table tr[data-uid='{row['uid']}'] td")
                assert got["emission_tao"] == str(row["emission_tao"]), row["uid"]
                assert got["requests_failed"] == str(row["requests_failed"]), row["uid"]
            top = sorted(api["miner"]["rows"], key=lambda r: -r["emission_alpha_rao"])[:15][::-1]
            miner_emission = series(page, "chart-miners")[0]["data"]
            assert [value(p) for p in miner_emission] == pytest.approx(
                [r["emission_value_micro"] / 1e6 for r in top]
            )

            # Per customer: the table and the revenue bars.
            customers = api["customer"]["rows"]
            assert len(customers) == 1 + len(CUSTOMERS)
            for row in customers:
                got = cells(page, f"#customer-table tr[data-customer='{row['name']}'] td")
                assert (got["revenue"], got["credit"], got["charges"]) == (
                    row["revenue"],
                    row["credit"],
                    str(row["charges"]),
                ), row["name"]
            paid = [r for r in customers if r["revenue_micro"] > 0][:10][::-1]
            bars = series(page, "chart-customers")[0]["data"]
            assert [value(p) for p in bars] == pytest.approx(
                [r["revenue_micro"] / 1e6 for r in paid]
            )

            # The charts were drawn (SVG renderer), not only configured.
            drawn = page.evaluate(
                "() => [...document.querySelectorAll('.chart')].map("
                "(c) => c.querySelectorAll('svg path').length)"
            )
            assert len(drawn) == 7 and min(drawn) > 3, drawn

            # Refresh re-reads the API; a bad filter is reported on the page, not thrown.
            page.click("#refresh")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.fill("input[name='since']", "yesterday")
            page.click("form#filters button[type='submit']")
            page.wait_for_selector("body[data-ready='error']", timeout=30_000)
            assert "--since" in page.inner_text("#status")
        finally:
            context.close()


@pytest.fixture
def served_unvalued(sqlite_url: str) -> Iterator[str]:
    """A ledger ingested without a TAO price: emission has alpha and TAO amounts only."""
    from sqlalchemy import update

    from wmnet.ledger.models import Epoch

    sessions = open_sessions(sqlite_url)
    seed(sessions, alpha_price_tao_rao=40_000_000)
    with sessions.begin() as session:
        session.execute(update(Epoch).values(tao_price_micro=None, tao_price_source="not set"))
    yield from _serve(sessions)


def test_dashboard_without_a_tao_price_draws_tao_alone(served_unvalued: str, tmp_path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright not installed")
    api = httpx.get(served_unvalued + "/api/report", params={"by": "workload"}).json()
    assert api["totals"]["emission_value"] is None and api["totals"]["emission_tao"] is not None
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 800},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.goto(served_unvalued + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.screenshot(path=str(tmp_path / "dashboard-unvalued.png"))
            assert page.inner_text("#headline [data-field='emission_value']") == "not valued"
            assert page.inner_text("#tao-price") == "not set"
            (emission,) = series(page, "chart-workload")  # no currency bars to compare with
            assert emission["name"] == "emission (τ)"
            assert [value(p) for p in emission["data"]] == pytest.approx(
                [r["emission_tao_rao"] / 1e9 for r in api["rows"]]
            )
            # Values under 1 τ: the log axis (and its bars) start a decade below them,
            # so bars grow upwards from the axis, not down from 1.
            start = page.evaluate(
                "() => window.wmnetDashboard.charts['chart-workload']"
                ".getOption().yAxis[0].startValue"
            )
            assert 0 < start <= min(value(p) for p in emission["data"]) < 1
            assert "no TAO price" in page.inner_text("#series-hint")
            assert any("no TAO→USD price" in note for note in api["notes"])
        finally:
            context.close()
