"""A report as a PNG (matplotlib, no display needed): the same views as the dashboard.

Rules every chart follows: one unit per axis (never TAO and currency on one axis),
the unit in every axis label, and a log scale wherever emission and revenue share an
axis, because emission can be hundreds of times the revenue and a linear axis would
flatten the revenue to nothing. Zeros cannot sit on a log axis: they are left out of the
bars and said in a label instead.

* ``--by workload`` / ``miner``: emission value vs revenue per row (log, currency; or
  emission in TAO alone when no TAO price valued it), beside the subsidy ratio (log, ×);
* ``--by epoch`` / ``hour`` / ``day``: emission value and revenue over time (log,
  currency), utilization (%) and verified/failed requests, on a shared time axis;
* ``--by customer``: revenue per customer (currency).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EMISSION, REVENUE, TAO, UTIL, FAILED, VERIFIED = (
    "#e07b39",
    "#2e9e5b",
    "#6c5ce7",
    "#2f6fd6",
    "#c0392b",
    "#2e9e5b",
)
TOP = 20  # rows drawn per chart of miners or customers (the biggest)


def _plain_log(axis: Any, values: list[float], suffix: str = "", which: str = "y") -> None:
    """A log axis spanning whole decades around ``values``, ticks as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    scale = axis.yaxis if which == "y" else axis.xaxis
    (axis.set_yscale if which == "y" else axis.set_xscale)("log")
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if finite:
        low = 10 ** math.floor(math.log10(min(finite)))
        high = 10 ** math.ceil(math.log10(max(finite)) + 1e-9)
        (axis.set_ylim if which == "y" else axis.set_xlim)(low, max(high, low * 10))
    scale.set_major_locator(LogLocator(base=10))
    scale.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}{suffix}"))
    scale.set_minor_formatter(NullFormatter())


def _ticks(axis: Any, labels: list[str]) -> None:
    positions = list(range(len(labels)))
    many = len(labels) > 4
    axis.set_xticks(positions, labels, rotation=20 if many else 0, ha="right" if many else "center")
    axis.set_xlim(-0.6, len(labels) - 0.4)


def _valued(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r["emission_value_micro"] is not None for r in rows)


def _log_or_nan(value: float | None) -> float:
    return value if value is not None and value > 0 else math.nan


def _emission_series(rows: list[dict[str, Any]], currency: str) -> tuple[list[float], str]:
    """Emission per row in currency when every row is valued, else in TAO (own label)."""
    if _valued(rows):
        return [r["emission_value_micro"] / 1e6 for r in rows], f"emission ({currency})"
    return [(r["emission_tao_rao"] or 0) / 1e9 for r in rows], "emission (TAO)"


def _bars(axis: Any, rows: list[dict[str, Any]], labels: list[str], currency: str) -> None:
    emission, name = _emission_series(rows, currency)
    positions = list(range(len(rows)))
    valued = _valued(rows)
    width = 0.4 if valued else 0.6
    axis.bar([p - (0.2 if valued else 0) for p in positions],
             [_log_or_nan(v) for v in emission], width, color=EMISSION if valued else TAO,
             label=name)  # fmt: skip
    if valued:
        revenue = [r["revenue_micro"] / 1e6 for r in rows]
        axis.bar([p + 0.2 for p in positions], [_log_or_nan(v) for v in revenue], width,
                 color=REVENUE, label=f"revenue ({currency})")  # fmt: skip
        for p, v in zip(positions, revenue, strict=True):
            if v == 0:
                axis.annotate("no revenue", (p + 0.2, 0), xycoords=("data", "axes fraction"),
                              xytext=(0, 4), textcoords="offset points", ha="center",
                              fontsize=8, color="#7a4b00")  # fmt: skip
    shown = emission + ([r["revenue_micro"] / 1e6 for r in rows] if valued else [])
    _plain_log(axis, shown)
    axis.set_ylabel(currency if valued else "TAO")
    _ticks(axis, labels)
    axis.legend(loc="upper right", fontsize=8)
    axis.grid(axis="y", which="major", alpha=0.3)
    axis.set_title(
        f"emission vs revenue ({currency}, log scale)" if valued
        else f"emission (TAO, log scale): no TAO→{currency} price to compare with revenue",
        fontsize=10,
    )  # fmt: skip


def _ratios(axis: Any, rows: list[dict[str, Any]], labels: list[str]) -> None:
    positions = list(range(len(rows)))
    ratios = [r["subsidy_ratio"] for r in rows]
    axis.bar(positions, [_log_or_nan(v) for v in ratios], 0.6, color=EMISSION)
    axis.axhline(1.0, color="#555", linewidth=0.8, linestyle="--")
    _plain_log(axis, [v for v in ratios if v is not None] + [1.0], suffix="×")
    axis.set_ylabel("emission value ÷ revenue (×)")
    for p, row in zip(positions, rows, strict=True):
        if row["subsidy_ratio"] is None:
            axis.annotate(row["subsidy_ratio_text"], (p, 0.5), xycoords=("data", "axes fraction"),
                          ha="center", fontsize=12, color="#7a4b00")  # fmt: skip
    _ticks(axis, labels)
    axis.set_title("subsidy ratio (log scale; 1× = revenue pays the emission)", fontsize=10)
    axis.grid(axis="y", which="major", alpha=0.3)


def _per_row(plt: Any, report: dict[str, Any]) -> Any:
    rows = report["rows"]
    if report["by"] == "miner":
        rows = sorted(rows, key=lambda r: -r["emission_alpha_rao"])[:TOP]
        labels = [f"uid {r['uid']}" for r in rows]
    else:
        labels = [str(r["key"]) for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    if rows:
        _bars(left, rows, labels, report["currency"])
        _ratios(right, rows, labels)
    return figure


def _times(report: dict[str, Any]) -> list[datetime]:
    key = "time" if report["by"] == "epoch" else "period_start"
    return [datetime.fromtimestamp(r[key], UTC) for r in report["rows"]]


def _over_time(plt: Any, report: dict[str, Any]) -> Any:
    rows, currency = report["rows"], report["currency"]
    times = _times(report)
    figure, (money, busy, requests) = plt.subplots(
        3, 1, figsize=(11, 8.5), dpi=100, sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    emission, name = _emission_series(rows, currency)
    money.plot(times, [_log_or_nan(v) for v in emission], marker="o", markersize=3,
               color=EMISSION if _valued(rows) else TAO, label=name)  # fmt: skip
    if _valued(rows):
        money.plot(times, [_log_or_nan(r["revenue_micro"] / 1e6) for r in rows], marker="s",
                   markersize=3, linestyle="--", color=REVENUE,
                   label=f"revenue ({currency})")  # fmt: skip
        money.set_ylabel(f"{currency} per {report['by']} (log)")
        shown = emission + [r["revenue_micro"] / 1e6 for r in rows]
    else:
        money.set_ylabel(f"TAO per {report['by']} (log)")
        shown = emission
    _plain_log(money, shown)
    money.legend(loc="upper left", fontsize=8)
    money.grid(which="major", alpha=0.3)
    busy.plot(times, [100 * (r["utilization"] or 0) for r in rows], color=UTIL)
    busy.set_ylabel("utilization (%)")
    busy.set_ylim(bottom=0)
    busy.grid(alpha=0.3)
    width = _bar_width(times)
    verified = [r["requests_verified"] for r in rows]
    requests.bar(times, verified, width, color=VERIFIED, label="verified")
    requests.bar(times, [r["requests_failed"] for r in rows], width, bottom=verified,
                 color=FAILED, label="failed")  # fmt: skip
    requests.set_ylabel("requests")
    requests.legend(loc="upper left", fontsize=8)
    requests.set_xlabel(f"{report['by']} (UTC)")
    figure.autofmt_xdate()
    return figure


def _bar_width(times: list[datetime]) -> float:
    """A bar width in days (matplotlib's date unit): 60 % of the median gap."""
    gaps = sorted((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))
    return 0.6 * (gaps[len(gaps) // 2] if gaps else 3600) / 86_400


def _customers(plt: Any, report: dict[str, Any]) -> Any:
    rows = [r for r in report["rows"] if r["revenue_micro"] > 0][:TOP][::-1]
    figure, axis = plt.subplots(figsize=(9, max(2.5, 0.4 * len(rows) + 1.2)), dpi=100)
    axis.barh([r["name"] for r in rows], [r["revenue_micro"] / 1e6 for r in rows], color=REVENUE)
    for y, row in enumerate(rows):
        axis.annotate(f" {row['revenue']}", (row["revenue_micro"] / 1e6, y), va="center",
                      fontsize=8)  # fmt: skip
    axis.set_xlabel(f"revenue ({report['currency']})")
    if not rows:
        axis.text(0.5, 0.5, "no charges in the window", ha="center", transform=axis.transAxes)
    return figure


def figure(report: dict[str, Any]) -> Any:
    """The matplotlib figure of ``report`` (any grouping), not yet saved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = report["by"]
    if by in ("epoch", "hour", "day"):
        drawn = _over_time(plt, report)
    elif by == "customer":
        drawn = _customers(plt, report)
    else:
        drawn = _per_row(plt, report)
    window = " to ".join(
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
        for t in (report["since"], report["until"])
        if t is not None
    )
    drawn.suptitle(f"wmnet ledger by {by}" + (f" ({window} UTC)" if window else ""))
    drawn.tight_layout()
    return drawn


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """Draw ``report`` into a PNG at ``path``."""
    import matplotlib.pyplot as plt

    drawn = figure(report)
    path = Path(path)
    try:
        drawn.savefig(path, format="png")
    finally:
        plt.close(drawn)
    return path
