"""A report (``reports.build_report``) as a table, JSON, CSV or a PNG chart."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMATS = ("table", "json", "csv")

_COMMON = [
    ("requests_organic", "organic"),
    ("requests_synthetic", "synthetic"),
    ("units", "units"),
    ("device_seconds", "device s"),
    ("utilization_text", "utilization"),
    ("emission_tao", "emissions TAO"),
    ("emission_value_text", "emissions {cur}"),
    ("revenue_text", "revenue {cur}"),
    ("net_revenue_text", "net of refunds {cur}"),
    ("audits", "audits"),
    ("audits_failed", "failed"),
    ("subsidy_ratio_text", "subsidy ratio"),
    ("cost_per_unit", "cost/unit {cur}"),
]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "workload": [("workload", "workload"), *_COMMON],
    "miner": [("uid", "uid"), ("hotkey", "hotkey"), *_COMMON],
    "epoch": [("key", "netuid/block"), ("time_iso", "time"), *_COMMON],
}


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    columns = COLUMNS[report["by"]]
    header = [title.format(cur=report["currency"]) for _, title in columns]
    rows = [[_cell(row.get(key)) for key, _ in columns] for row in report["rows"]]
    totals = report["totals"]
    rows.append(
        ["total", *("" for _ in columns[1 : -len(_COMMON)])]
        + [_cell(totals.get(key)) for key, _ in _COMMON]
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
    """A PNG: emissions vs revenue per workload or miner, or over time per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    currency = report["currency"]
    figure, axis = plt.subplots(figsize=(9, 4.5), dpi=100)
    valued = all(r["emission_value_micro"] is not None for r in rows)
    unit = currency if valued else "TAO"

    def emission(row: dict[str, Any]) -> float:
        if valued:
            return row["emission_value_micro"] / 1e6
        return row["emission_rao"] / 1e9

    if report["by"] == "epoch":
        times = [datetime.fromtimestamp(r["time"], UTC) for r in rows]
        workloads = sorted({w for r in rows for w in r["subsidy_by_workload_rao"]})
        for workload in workloads:
            axis.plot(
                times,
                [r["subsidy_by_workload_rao"].get(workload, 0) / 1e9 for r in rows],
                marker="o",
                label=f"{workload} emissions (TAO)",
            )
        axis.set_xlabel("epoch time (UTC)")
        figure.autofmt_xdate()
        axis.set_ylabel("TAO")
        twin = axis.twinx()
        twin.plot(times, [r["revenue_micro"] / 1e6 for r in rows], "k--", label="revenue")
        twin.set_ylabel(f"revenue ({currency})")
        lines, labels = axis.get_legend_handles_labels()
        more, more_labels = twin.get_legend_handles_labels()
        axis.legend(lines + more, labels + [f"revenue ({currency})" for _ in more_labels])
    else:
        labels = [str(r["key"]) for r in rows]
        positions = range(len(rows))
        axis.bar([p - 0.2 for p in positions], [emission(r) for r in rows], 0.4, label="emissions")
        if valued:
            axis.bar(
                [p + 0.2 for p in positions],
                [r["revenue_micro"] / 1e6 for r in rows],
                0.4,
                label="revenue",
            )
        axis.set_xticks(list(positions), labels, rotation=20)
        axis.set_ylabel(unit)
        axis.legend()
    axis.set_title(f"wmnet ledger by {report['by']}")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    plt.close(figure)
    return path
