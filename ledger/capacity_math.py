"""Offered capacity as slot-seconds, from miners' capacity reports.

A report at time ``t`` says the miner offered ``slots`` concurrent tasks over the
``window_s`` seconds before ``t``. Each report covers ``[max(t - window_s, t_prev), t]``
(``t_prev``: that miner's previous report, so overlapping windows count once), clipped
to the report window; it offers ``slots × covered seconds``, counted for every workload
it lists. Gaps between reports longer than a window offer nothing: a miner that
stops reporting stops offering.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Literal, Protocol


class _Report(Protocol):
    hotkey: str
    time: float
    slots: int
    window_s: float
    workloads: str


def _covered(
    reports: Iterable[_Report], since: float | None, until: float | None
) -> Iterator[tuple[_Report, float, float]]:
    """Each report with the ``[start, end)`` it covers inside the window (non-empty)."""
    previous: dict[str, float] = {}
    for report in sorted(reports, key=lambda r: (r.hotkey, r.time)):
        start = report.time - report.window_s
        if report.hotkey in previous:
            start = max(start, previous[report.hotkey])
        previous[report.hotkey] = report.time
        end = report.time
        if since is not None:
            start = max(start, since)
        if until is not None:
            end = min(end, until)
        if end > start:
            yield report, start, end


def offered_slot_seconds(
    reports: Iterable[_Report],
    since: float | None,
    until: float | None,
    *,
    by: Literal["workload", "hotkey"],
) -> defaultdict[str, float]:
    """Slot-seconds offered in ``[since, until)`` per workload or per miner hotkey."""
    offered: defaultdict[str, float] = defaultdict(float)
    for report, start, end in _covered(reports, since, until):
        amount = report.slots * (end - start)
        if by == "hotkey":
            offered[report.hotkey] += amount
        else:
            for workload in filter(None, report.workloads.split(",")):
                offered[workload] += amount
    return offered


def offered_by_period(
    reports: Iterable[_Report], since: float | None, until: float | None, period_s: float
) -> defaultdict[int, float]:
    """Slot-seconds offered in ``[since, until)`` per period ``floor(t / period_s)``
    (each report's covered interval split at period boundaries; one pass)."""
    offered: defaultdict[int, float] = defaultdict(float)
    for report, start, end in _covered(reports, since, until):
        while end > start:
            index = math.floor(start / period_s)
            cut = min(end, (index + 1) * period_s)
            offered[index] += report.slots * (cut - start)
            start = cut
    return offered
