"""``wmnet ledger serve``: the reports as a JSON API and a dashboard page.

* ``GET /api/report?by=workload|miner|epoch&since=&until=&netuid=``: what
  ``wmnet ledger report --format json`` prints (400 with a reason on a bad argument);
* ``GET /``: a self-contained dashboard (inline JS and SVG, nothing fetched from
  elsewhere) that charts the same JSON;
* ``GET /healthz``.

Each request is its own session (unit of work). The app factory is what tests call.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger.reports import ReportError, ReportQuery, build_report
from wmnet.ledger.valuation import DEFAULT_CURRENCY


def dashboard_html() -> str:
    return resources.files("wmnet.ledger").joinpath("dashboard.html").read_text("utf-8")


def create_app(sessions: sessionmaker[Session], currency: str = DEFAULT_CURRENCY) -> FastAPI:
    app = FastAPI(title="wmnet ledger", docs_url=None, redoc_url=None)
    page = dashboard_html()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/report")
    def report(
        by: str = "workload",
        since: str | None = None,
        until: str | None = None,
        netuid: str | None = None,
    ) -> dict[str, Any]:
        try:
            query = ReportQuery.parse(by, since, until, netuid, currency)
        except ReportError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None
        with sessions() as session:
            try:
                return build_report(session, query)
            except ReportError as error:  # a window with too many hours or days
                raise HTTPException(status_code=400, detail=str(error)) from None

    @app.get("/", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    return app
