"""Prometheus metrics in the text exposition format (version 0.0.4), per app instance.

Written here rather than with ``prometheus-client``: a handful of counters, gauges and
one histogram do not need a dependency, and its default global registry is the kind of
process-wide state an app factory must not share between instances (tests build many).
Thread-safe: the scheduler's worker thread updates metrics too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

Labels = tuple[tuple[str, str], ...]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _fmt(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def render(self) -> list[str]:
        raise NotImplementedError

    def __init__(self, name: str, help_text: str, lock: threading.Lock) -> None:
        self.name, self.help, self._lock = name, help_text, lock

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


M = TypeVar("M", bound=_Metric)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, lock: threading.Lock) -> None:
        super().__init__(name, help_text, lock)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_fmt_labels(k)} {_fmt(v)}" for k, v in items]


class Gauge(_Metric):
    """A gauge read at scrape time from a callback, so it can never go stale."""

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, lock: threading.Lock, read: Callable[[], float]
    ) -> None:
        super().__init__(name, help_text, lock)
        self._read = read

    def render(self) -> list[str]:
        return [f"{self.name} {_fmt(self._read())}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, lock: threading.Lock, buckets: Iterable[float]
    ) -> None:
        super().__init__(name, help_text, lock)
        self._bounds = (*sorted(buckets), float("inf"))
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._n = 0

    def observe(self, value: float) -> None:
        with self._lock:
            self._sum += value
            self._n += 1
            for i, bound in enumerate(self._bounds):
                if value <= bound:
                    self._counts[i] += 1
                    break

    @property
    def total(self) -> tuple[int, float]:
        with self._lock:
            return self._n, self._sum

    def render(self) -> list[str]:
        with self._lock:
            counts, total, n = list(self._counts), self._sum, self._n
        lines, running = [], 0
        for bound, count in zip(self._bounds, counts, strict=True):
            running += count
            lines.append(f'{self.name}_bucket{{le="{_fmt(bound)}"}} {running}')
        lines += [f"{self.name}_sum {_fmt(total)}", f"{self.name}_count {n}"]
        return lines


class MinerMetrics:
    """The miner's metrics; gauges are wired to their sources by the app factory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: list[_Metric] = []
        self.requests = self._add(
            Counter(
                "wmnet_miner_requests_total", "Requests answered, by route and status.", self._lock
            )
        )
        self.rejections = self._add(
            Counter(
                "wmnet_miner_gate_rejections_total",
                "Requests the gate refused, by reason.",
                self._lock,
            )
        )
        self.rollouts = self._add(
            Counter("wmnet_miner_rollouts_total", "Rollout tasks computed.", self._lock)
        )
        self.batches = self._add(
            Counter("wmnet_miner_batches_total", "Batches run on the device.", self._lock)
        )
        self.refresh_failures = self._add(
            Counter(
                "wmnet_miner_metagraph_refresh_failures_total",
                "Metagraph refreshes that failed (the last good one stays in use).",
                self._lock,
            )
        )
        self.request_seconds = self._add(
            Histogram(
                "wmnet_miner_request_seconds",
                "Wall time of gated requests, from first byte to response.",
                self._lock,
                LATENCY_BUCKETS,
            )
        )
        self.gate_seconds = self._add(
            Histogram(
                "wmnet_miner_gate_seconds",
                "Time in the gate: signature check, authorization and token bucket.",
                self._lock,
                (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05),
            )
        )

    def _add(self, metric: M) -> M:
        self._all.append(metric)
        return metric

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._add(Gauge(name, help_text, self._lock, read))

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._all:
            lines += metric.header() + metric.render()
        return "\n".join(lines) + "\n"
