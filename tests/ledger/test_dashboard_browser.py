"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright
through ``executable_path``; no browser download): the per-workload chart and table show
the JSON API's numbers."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.ledger.conftest import open_sessions
from tests.ledger.helpers import seed
from wmnet.ledger.api import create_app

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


@pytest.fixture
def served(sqlite_url: str) -> Iterator[str]:
    sessions = open_sessions(sqlite_url)
    seed(sessions)
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


def test_dashboard_shows_the_api_numbers(served: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright not installed")
    api = httpx.get(served + "/api/report", params={"by": "workload"}).json()
    epochs = httpx.get(served + "/api/report", params={"by": "epoch"}).json()
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
        )
        try:
            page = context.new_page()
            page.goto(served + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            for row in api["rows"]:
                workload = row["workload"]
                cells = {
                    td.get_attribute("data-field"): td.inner_text()
                    for td in page.query_selector_all(f"tr[data-workload='{workload}'] td")
                }
                assert cells["workload"] == workload
                assert int(cells["units"]) == row["units"]
                assert int(cells["requests_organic"]) == row["requests_organic"]
                assert int(cells["requests_synthetic"]) == row["requests_synthetic"]
                assert cells["emission_tao"] == row["emission_tao"]
                assert cells["revenue"] == row["revenue"]
                assert cells["subsidy_ratio_text"] == row["subsidy_ratio_text"]
                bars = {
                    bar.get_attribute("data-series"): bar
                    for bar in page.query_selector_all(f"rect.bar[data-workload='{workload}']")
                }
                emission = bars["emission_value"]  # valued: both bars in USD
                assert emission.get_attribute("data-value") == row["emission_value"]
                assert bars["revenue"].get_attribute("data-value") == row["revenue"]
                assert float(emission.get_attribute("height")) > 0
            # Taller bar for more emission, as the numbers say.
            heights = {
                bar.get_attribute("data-workload"): float(bar.get_attribute("height"))
                for bar in page.query_selector_all("rect.bar[data-series='emission_value']")
            }
            by_rao = sorted(api["rows"], key=lambda r: r["emission_alpha_rao"])
            assert heights[by_rao[-1]["workload"]] > heights[by_rao[0]["workload"]]
            # Over time: one point per epoch and workload, carrying the API's rao.
            for epoch in epochs["rows"]:
                for workload, rao in epoch["subsidy_by_workload_alpha_rao"].items():
                    dot = page.query_selector(
                        f"circle[data-block='{epoch['block']}'][data-workload='{workload}']"
                    )
                    assert dot is not None and int(dot.get_attribute("data-rao")) == rao
            assert "∞" in page.inner_text("#workload-table")
        finally:
            context.close()
