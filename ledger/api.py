"""``wmnet ledger serve``: the reports as a JSON API and a dashboard page.

* ``GET /api/report?by=workload|miner|epoch|customer|hour|day&since=&until=&netuid=``:
  what ``wmnet ledger report --by … --format json`` prints (400 with a reason on a bad
  argument);
* ``GET /``: the dashboard, which charts the same JSON with Apache ECharts;
* ``GET /static/echarts.common.min.js`` (and its licence files): the chart library,
  shipped inside the package (see ``ledger/static/README.md``), so the page fetches
  nothing from anywhere but this server;
* ``GET /healthz``.

Each request is its own session (unit of work). The app factory is what tests call.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger.reports import ReportError, ReportQuery, build_report
from wmnet.ledger.valuation import DEFAULT_CURRENCY

ECHARTS_VERSION = "6.1.0"
# The files under ledger/static the server hands out, with their media types.
STATIC = {
    "echarts.common.min.js": "text/javascript; charset=utf-8",
    "ECHARTS-LICENSE": "text/plain; charset=utf-8",
    "ECHARTS-NOTICE": "text/plain; charset=utf-8",
    "ECHARTS-LICENSE-d3": "text/plain; charset=utf-8",
    "ZRENDER-LICENSE": "text/plain; charset=utf-8",
    "README.md": "text/plain; charset=utf-8",
}


def dashboard_html() -> str:
    return resources.files("wmnet.ledger").joinpath("dashboard.html").read_text("utf-8")


def static_file(name: str) -> bytes:
    return resources.files("wmnet.ledger").joinpath("static", name).read_bytes()


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

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(status_code=404, detail=f"no static file {name!r}")
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(static_file(name), media_type=STATIC[name], headers=headers)

    return app
