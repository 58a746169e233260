"""`wmnet ledger ...`: ingest emissions and usage, report, serve the dashboard."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from wmnet.neurons.options import network_option
from wmnet.neurons.output import console, fail, print_json, print_table

app = typer.Typer(no_args_is_help=True)
ingest_app = typer.Typer(no_args_is_help=True)
price_app = typer.Typer(no_args_is_help=True)
customer_app = typer.Typer(no_args_is_help=True)
app.add_typer(ingest_app, name="ingest", help="Read epochs from the chain or a usage file.")
app.add_typer(price_app, name="price", help="Prices per workload unit for customers.")
app.add_typer(customer_app, name="customer", help="Customers with API keys and prepaid credit.")

DB_HELP = "Ledger URL (default $WMNET_DB_URL or sqlite:///~/.wmnet/ledger.db)."


def _open(db: str | None):  # noqa: ANN202 - a sessionmaker
    """The migrated ledger at ``db``, or a clear error for a bad URL or an unreachable DB."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from wmnet.ledger.db import open_ledger, resolve_url

    try:
        return open_ledger(resolve_url(db))
    except ArgumentError as error:
        fail(f"--db is not a database URL ({error})", 2)  # a usage error
    except (OperationalError, ModuleNotFoundError) as error:
        fail(f"cannot open the ledger database: {error}")


def _print_wide(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A rich table never narrower than its content (rich assumes 80 columns when the
    output is not a terminal, which would cut every figure short)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in header:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    Console(width=max(console.width, 240)).print(table)


def _currency(currency: str | None) -> str:
    from wmnet.ledger.valuation import Valuation

    try:
        return Valuation.from_config(currency=currency).currency
    except ValueError as error:
        fail(str(error), 2)  # a usage error
    raise AssertionError  # unreachable: fail exits


@app.command()
def report(
    by: str = typer.Option(
        "workload", "--by", help="workload, miner, epoch, customer, hour or day (UTC)."
    ),
    since: str | None = typer.Option(None, help="Start (ISO 8601 or unix seconds), inclusive."),
    until: str | None = typer.Option(None, help="End (ISO 8601 or unix seconds), exclusive."),
    netuid: str | None = typer.Option(None, help="Only this subnet."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw a PNG chart here."),
    currency: str | None = typer.Option(None, help="Revenue currency (default WMNET_CURRENCY)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Requests, units, utilization, emission (alpha, its TAO value, its currency value),
    revenue, subsidy ratio and cost per unit; or revenue and credit per customer."""
    from wmnet.ledger.render import FORMATS, table_rows, to_csv, to_json
    from wmnet.ledger.render import plot as draw
    from wmnet.ledger.reports import ReportError, ReportQuery, build_report

    # A malformed option is a usage error: one line, exit status 2 (as typer's own).
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}", 2)
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot writes a PNG: give a path ending in .png, not {str(plot)!r}", 2)
    try:
        query = ReportQuery.parse(by, since, until, netuid, _currency(currency))
    except ReportError as error:
        fail(str(error), 2)
    sessions = _open(db)
    with sessions() as session:
        try:
            data = build_report(session, query)
        except ReportError as error:
            fail(str(error))
    if fmt == "json":
        typer.echo(to_json(data))
    elif fmt == "csv":
        typer.echo(to_csv(data), nl=False)
    else:
        _print_wide(f"wmnet ledger by {by}", *table_rows(data))
        for note in data["notes"]:
            console.print(f"note: {note}")
    if plot is not None:
        try:
            draw(data, plot)
        except OSError as error:
            fail(f"cannot write {plot}: {error}")
        if fmt == "table":
            console.print(f"chart written to {plot}")


@app.command()
def serve(
    port: int = typer.Option(8090, help="Port for the JSON API and dashboard."),
    host: str = typer.Option("127.0.0.1", help="Bind address (loopback by default)."),
    currency: str | None = typer.Option(None, help="Revenue currency (default WMNET_CURRENCY)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Serve /api/report (JSON) and a dashboard at / until interrupted."""
    import uvicorn

    from wmnet.ledger.api import create_app

    if not 0 < port < 65536:
        fail(f"--port must be in 1..65535, not {port}")
    application = create_app(_open(db), _currency(currency))
    console.print(f"wmnet ledger at [bold]http://{host}:{port}/[/]")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def migrate(
    revision: str = typer.Option("head", help="Alembic revision to move to (head, 0001, base)."),
    down: bool = typer.Option(False, "--down", help="Downgrade to --revision (e.g. base)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Upgrade the ledger schema (the other commands do this too), or downgrade it."""
    from wmnet.ledger.db import current_revision, downgrade, make_engine, resolve_url
    from wmnet.ledger.db import migrate as upgrade

    engine = make_engine(resolve_url(db))
    before = current_revision(engine)
    (downgrade if down else upgrade)(engine, revision)
    console.print(f"ledger schema: {before or 'empty'} → {current_revision(engine) or 'empty'}")


@ingest_app.command("chain")
def ingest_chain(
    netuid: int = typer.Option(..., help="Subnet to index."),
    network: str = network_option(),
    backfill: int = typer.Option(16, min=1, help="Epochs to read back on an empty ledger."),
    tao_price: str | None = typer.Option(
        None, help="Currency per TAO for valuation (default WMNET_TAO_PRICE)."
    ),
    alpha_price: str | None = typer.Option(
        None,
        help="TAO per alpha (e.g. 0.05) instead of the chain's spot price at each epoch "
        "(SwapRuntimeApi.current_alpha_price).",
    ),
    currency: str | None = typer.Option(None, help="Currency code (default WMNET_CURRENCY)."),
    follow: bool = typer.Option(False, help="Keep indexing new epochs until interrupted."),
    interval: float = typer.Option(12.0, help="Seconds between polls with --follow."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Store each epoch's per-UID emission from the chain (idempotent, resumable)."""
    import bittensor as bt

    from wmnet.ledger.indexer import ChainIndexer
    from wmnet.ledger.valuation import Valuation
    from wmnet.localnet.network import client_for

    try:
        valuation = Valuation.from_config(tao_price, currency, alpha_price)
    except ValueError as error:
        fail(str(error))
    sessions = _open(db)

    async def run() -> list[int]:
        async with client_for(network) as client:
            indexer = ChainIndexer(
                sessions, client, netuid, network=network, valuation=valuation, backfill=backfill
            )
            if follow:
                await indexer.follow(interval)
                return []
            return await indexer.sync()

    try:
        blocks = asyncio.run(run())
    except (ConnectionError, LookupError, bt.BittensorError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        return
    if json_out:
        print_json({"netuid": netuid, "network": network, "epochs": blocks})
    else:
        console.print(f"stored {len(blocks)} new epoch(s) of subnet {netuid}: {blocks}")


@ingest_app.command("usage")
def ingest_usage(
    path: Path = typer.Argument(..., help="A validator's usage JSON-lines file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Store usage events and weight attribution (resumes at the last byte offset)."""
    from dataclasses import asdict

    from wmnet.ledger.usage import ingest_jsonl

    if not path.is_file():
        fail(f"{path} is not a file")
    stats = ingest_jsonl(_open(db), path)
    if json_out:
        print_json(asdict(stats))
    else:
        console.print(
            f"{stats.events} usage events, {stats.attribution} attribution rows, "
            f"{stats.invalid} invalid lines skipped; offset {stats.offset}"
        )


def _micro(amount: str, what: str) -> int:
    from wmnet.ledger.models import MICRO
    from wmnet.ledger.valuation import parse_decimal

    try:
        return parse_decimal(amount, MICRO, what)
    except ValueError as error:
        fail(str(error))
    raise AssertionError  # unreachable: fail exits


@price_app.command("set")
def price_set(
    workload: str = typer.Argument(..., help="rollout or train_shard."),
    amount: str = typer.Argument(..., help="Currency per unit, e.g. 0.0004."),
    currency: str | None = typer.Option(None, help="Currency (default WMNET_CURRENCY)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Set the customer price of one unit of a workload, from now on."""
    from wmnet.ledger.billing import Billing, BillingError

    try:
        Billing(_open(db), _currency(currency)).set_price(workload, _micro(amount, "amount"))
    except BillingError as error:
        fail(str(error))
    console.print(f"{workload}: {amount} per unit")


@customer_app.command("add")
def customer_add(
    name: str = typer.Argument(...),
    credit: str = typer.Option("0", help="Prepaid credit in currency units."),
    currency: str | None = typer.Option(None, help="Currency (default WMNET_CURRENCY)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Create a customer; prints its API key once (only its hash is stored)."""
    from sqlalchemy.exc import IntegrityError

    from wmnet.ledger.billing import Billing, BillingError

    try:
        info, key = Billing(_open(db), _currency(currency)).create_customer(
            name, _micro(credit, "--credit")
        )
    except (BillingError, IntegrityError) as error:
        fail(f"cannot create customer {name!r}: {error}".splitlines()[0])
    print_table("customer", ["id", "name", "api key (shown once)"], [[info.id, info.name, key]])


@customer_app.command("top-up")
def customer_top_up(
    customer_id: int = typer.Argument(...),
    amount: str = typer.Argument(..., help="Currency units to add."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Add prepaid credit to a customer."""
    from wmnet.ledger.billing import Billing, BillingError

    sessions = _open(db)
    try:
        info = Billing(sessions).top_up(customer_id, _micro(amount, "amount"))
    except BillingError as error:
        fail(str(error))
    console.print(f"customer {info.id} credit: {info.credit_micro / 1e6:,.6f} {info.currency}")
