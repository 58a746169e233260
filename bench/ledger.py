"""Ledger benchmark: usage ingestion rate and report latency over a million usage rows.

* ``ingest_events_per_s``: a validator's JSON-lines file of ``events`` usage records
  (plus one attribution set per 1,000 events) through ``ingest_jsonl`` into a fresh
  ledger: parsing, validation, inserts with ``ON CONFLICT`` and the offset update,
  committed in batches; events ÷ wall seconds.
* ``report_seconds``: ``build_report(by=workload)`` over ``rows`` usage rows (bulk
  loaded, not timed), 2 workloads x 2 origins, 256 miners, plus 500 epochs of 64 UIDs
  with subsidies and 10,000 revenue events; the whole history, no time filter.
  Also ``report_miner_seconds`` and ``report_window_seconds`` (one day of 30), and the
  other groupings the dashboard reads: ``report_epoch_seconds`` (500 epochs),
  ``report_day_seconds`` (30 days), ``report_hour_seconds`` (720 hours) and
  ``report_customer_seconds``.

Each timed step runs ``repeats`` times; min and median are reported. On PostgreSQL the
given URL is a server to make scratch databases on (created and dropped here).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger import models
from wmnet.ledger.db import make_engine, migrate
from wmnet.ledger.indexer import EpochSnapshot, NeuronRow, store_epoch
from wmnet.ledger.reports import ReportQuery, build_report
from wmnet.ledger.usage import ingest_jsonl, store_usage_rows
from wmnet.ledger.valuation import AlphaPrice, PriceOrigin, Valuation
from wmnet.protocol.usage import UsageEvent, WeightAttribution

DAY = 86_400.0
T0 = 1_750_000_000.0
MINERS = 256


@contextmanager
def scratch_ledger(url: str | None, workdir: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh, migrated ledger: a SQLite file in ``workdir``, or a PostgreSQL database
    created on the server of ``url`` and dropped afterwards."""
    if url is None or make_url(url).get_backend_name() == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}")
        migrate(engine)
        try:
            yield sessionmaker(engine, expire_on_commit=False)
        finally:
            engine.dispose()
        return
    name = f"wmnet_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield sessionmaker(engine, expire_on_commit=False)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _event(rng: random.Random, i: int, t: float, prefix: str) -> UsageEvent:
    uid = rng.randrange(MINERS)
    return UsageEvent(
        request_id=f"{prefix}{i:012x}",
        time=t,
        netuid=1,
        validator_hotkey="validator",
        miner_uid=uid,
        miner_hotkey=f"miner-{uid}",
        workload="rollout" if rng.random() < 0.8 else "train_shard",
        units=rng.randrange(1, 64),
        device_seconds=rng.random(),
        origin="organic" if rng.random() < 0.3 else "synthetic",
        verified=rng.random() < 0.95,
        reason="ok",
    )


def write_usage_file(path: Path, events: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(events):
            fh.write(_event(rng, i, T0 + i * 0.01, "req-").model_dump_json() + "\n")
            if i % 1000 == 999:
                for uid in range(8):
                    fh.write(
                        WeightAttribution(
                            time=T0 + i * 0.01, netuid=1, block=i // 1000,
                            validator_hotkey="validator", miner_uid=uid,
                            miner_hotkey=f"miner-{uid}", weight=1 / 8,
                            by_workload={"rollout": 0.75, "train_shard": 0.25},
                        ).model_dump_json() + "\n"
                    )  # fmt: skip


def bulk_usage(sessions: sessionmaker[Session], rows: int, seed: int = 1) -> None:
    """``rows`` usage rows spread over 30 days, stored in large batches through the
    ledger's own write path (events and hourly rollups; not timed)."""
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for i in range(rows):
        uid = rng.randrange(MINERS)
        batch.append(
            {
                "request_id": f"bulk-{i:012x}",
                "time": T0 + 30 * DAY * i / rows,
                "netuid": 1,
                "validator_hotkey": "validator",
                "miner_uid": uid,
                "miner_hotkey": f"miner-{uid}",
                "workload": "rollout" if rng.random() < 0.8 else "train_shard",
                "units": rng.randrange(1, 64),
                "device_seconds": rng.random(),
                "origin": "organic" if rng.random() < 0.3 else "synthetic",
                "verified": rng.random() < 0.95,
                "reason": "ok",
            }
        )
        if len(batch) == 50_000:
            with sessions.begin() as session:
                store_usage_rows(session, batch)
            batch = []
    if batch:
        with sessions.begin() as session:
            store_usage_rows(session, batch)


def bulk_chain_and_revenue(sessions: sessionmaker[Session], epochs: int = 500) -> None:
    """Epochs of 64 UIDs (60 miners) with attribution, and revenue events."""
    valuation = Valuation(currency="USD", tao_price_micro=300_000_000, tao_price_source="bench")
    rng = random.Random(2)
    for e in range(epochs):
        neurons = [NeuronRow(0, "owner", "c", 0, 0, 0, 0, True)]
        neurons += [NeuronRow(u, f"v{u}", "c", 10**9, 10**12, 0, 16000, True) for u in (1, 2, 3)]
        neurons += [
            NeuronRow(u, f"miner-{u}", "c", rng.randrange(10**9), 0, 1000, 0, False)
            for u in range(4, 64)
        ]
        snapshot = EpochSnapshot(1, 100 + 361 * e, T0 + 30 * DAY * e / epochs, 360, "owner",
                                 tuple(neurons), AlphaPrice(10**9, PriceOrigin.CHAIN, "bench"),
                                 11796)  # fmt: skip
        store_epoch(sessions, snapshot, valuation, "bench")
    with sessions.begin() as session:
        session.add(
            models.Customer(
                name="bench",
                api_key_sha256="0" * 64,
                key_prefix="wmk_bench",
                currency="USD",
                credit_micro=0,
                active=True,
                created_at=T0,
            )  # fmt: skip
        )
        session.flush()
        session.execute(
            models.RevenueEvent.__table__.insert(),
            [
                {"idempotency_key": f"k{i}", "customer_id": 1, "time": T0 + 30 * DAY * i / 10_000,
                 "workload": "rollout", "units": 16, "amount_micro": 4_000, "currency": "USD",
                 "request_id": f"bulk-{i * 100:012x}"}
                for i in range(10_000)
            ],
        )  # fmt: skip


def _timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bench_ledger(
    url: str | None = None, events: int = 100_000, rows: int = 1_000_000, repeats: int = 3
) -> dict[str, Any]:
    backend = "sqlite" if url is None else make_url(url).get_backend_name()
    result: dict[str, Any] = {"backend": backend, "events": events, "rows": rows}
    with tempfile.TemporaryDirectory(prefix="wmnet-bench-ledger-") as tmp:
        workdir = Path(tmp)
        usage_file = workdir / "usage.jsonl"
        write_usage_file(usage_file, events)
        rates = []
        for _ in range(repeats):
            with scratch_ledger(url, workdir) as sessions:
                stats = ingest_jsonl(sessions, usage_file)
                assert stats.events == events and stats.invalid == 0
                rates.append(events / stats.seconds)
        result["ingest_events_per_s_all"] = [round(r) for r in rates]
        result["ingest_events_per_s"] = round(statistics.median(rates))
        result["ingest_events_per_s_min"] = round(min(rates))

        with scratch_ledger(url, workdir) as sessions:
            started = time.perf_counter()
            bulk_usage(sessions, rows)
            bulk_chain_and_revenue(sessions)
            result["load_seconds"] = round(time.perf_counter() - started, 2)
            queries = {
                "report_seconds": ReportQuery.parse("workload"),
                "report_miner_seconds": ReportQuery.parse("miner"),
                "report_window_seconds": ReportQuery.parse(
                    "workload", str(T0 + 10 * DAY), str(T0 + 11 * DAY)
                ),
                "report_epoch_seconds": ReportQuery.parse("epoch"),
                "report_day_seconds": ReportQuery.parse("day"),
                "report_hour_seconds": ReportQuery.parse("hour"),
                "report_customer_seconds": ReportQuery.parse("customer"),
            }
            with sessions() as session:  # the rollups agree with the rows they sum
                stored = session.scalar(select(func.count()).select_from(models.UsageEvent))
                totals = build_report(session, queries["report_seconds"])["totals"]
            result["report_checked"] = (
                totals["requests_organic"] + totals["requests_synthetic"] == stored == rows
            )
            for name, query in queries.items():

                def run(query: ReportQuery = query) -> None:
                    with sessions() as session:
                        build_report(session, query)

                run()  # warm the cache: every timed run reads a warm database
                times = _timed(run, repeats)
                result[name] = round(statistics.median(times), 4)
                result[name.replace("_seconds", "_min_seconds")] = round(min(times), 4)
    return result
