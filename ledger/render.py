"""A report (``reports.build_report``) as a table, JSON, CSV or a PNG chart."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

FORMATS = ("table", "json", "csv")

_COMMON = [
    ("requests_organic", "organic"),
    ("requests_synthetic", "synthetic"),
    ("requests_failed", "failed"),
    ("units", "units"),
    ("device_seconds", "device s"),
    ("utilization_text", "utilization"),
    ("emission_alpha", "emission α"),
    ("emission_tao", "emission TAO"),
    ("emission_value", "emission {cur}"),
    ("revenue", "revenue {cur}"),
    ("subsidy_ratio_text", "subsidy ratio"),
    ("cost_per_unit", "cost/unit {cur}"),
]
_CUSTOMER = [
    ("charges", "charges"),
    ("units", "units"),
    ("revenue", "revenue {cur}"),
    ("revenue_share", "share"),
    ("credit", "credit left {cur}"),
]
# (field, title) per grouping: the leading label columns, then the figures.
LABELS: dict[str, list[tuple[str, str]]] = {
    "workload": [("workload", "workload")],
    "miner": [("uid", "uid"), ("hotkey", "hotkey")],
    "epoch": [("key", "netuid/block"), ("time_iso", "time")],
    "customer": [("name", "customer"), ("key_prefix", "key")],
    "hour": [("key", "hour (UTC)")],
    "day": [("key", "day (UTC)")],
}


def columns(by: str) -> list[tuple[str, str]]:
    return LABELS[by] + (_CUSTOMER if by == "customer" else _COMMON)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows for people (decimal amounts; "n/a" where a price is missing),
    the totals last."""
    labels, figures = LABELS[report["by"]], columns(report["by"])[len(LABELS[report["by"]]) :]
    header = [title.format(cur=report["currency"]) for _, title in labels + figures]
    rows = [[_cell(row.get(key)) for key, _ in labels + figures] for row in report["rows"]]
    totals = report["totals"]
    rows.append(
        ["total", *("" for _ in labels[1:])] + [_cell(totals.get(key)) for key, _ in figures]
    )
    return header, rows


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def to_csv(report: dict[str, Any]) -> str:
    """One line per row: every scalar field, nested per-workload amounts flattened."""
    flat = []
    for row in report["rows"]:
        line = {k: v for k, v in row.items() if not isinstance(v, dict)}
        for key, value in row.items():
            if isinstance(value, dict):
                line.update({f"{key}:{k}": v for k, v in sorted(value.items())})
        flat.append(line)
    fields: list[str] = []
    for line in flat:
        fields.extend(k for k in line if k not in fields)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """A PNG of the report (see :mod:`wmnet.ledger.plots`)."""
    from wmnet.ledger.plots import plot as draw

    return draw(report, path)
