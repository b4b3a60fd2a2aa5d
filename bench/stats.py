"""The arithmetic of the benchmark: percentiles, throughput ratios and budget verdicts.

Pure functions over plain numbers, so the harness's judgement can be tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

PASS = "PASS"
FAIL = "FAIL"
UNKNOWN = "n/a"


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile of ``values`` by linear interpolation between closest ranks
    (numpy's default method). Raises ValueError for an empty sequence or ``pct`` outside 0..100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, not {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles in milliseconds over ``count`` samples."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def summarize(seconds: Sequence[float]) -> LatencySummary:
    """p50/p95/p99/max in milliseconds of latencies given in seconds. Raises ValueError when empty."""
    if not seconds:
        raise ValueError("no latencies to summarize")
    return LatencySummary(
        count=len(seconds),
        p50_ms=percentile(seconds, 50) * 1000,
        p95_ms=percentile(seconds, 95) * 1000,
        p99_ms=percentile(seconds, 99) * 1000,
        max_ms=max(seconds) * 1000,
    )


def throughput(requests: int, wall_seconds: float) -> float:
    """Requests per second; 0 when nothing ran (``wall_seconds`` <= 0)."""
    return requests / wall_seconds if wall_seconds > 0 else 0.0


def ratio(value: float, reference: float) -> float | None:
    """``value / reference`` (e.g. a page's throughput against the ceiling's); None when the
    reference is zero or negative, because a ratio to nothing says nothing."""
    if reference <= 0:
        return None
    return value / reference


Comparison = Literal["<=", ">="]


def verdict(value: float | None, comparison: Comparison, limit: float) -> str:
    """PASS when ``value`` meets ``comparison limit``, FAIL when not, ``n/a`` when it was not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    if comparison == "<=":
        return PASS if value <= limit else FAIL
    if comparison == ">=":
        return PASS if value >= limit else FAIL
    raise ValueError(f"unknown comparison {comparison!r}")


@dataclass(frozen=True)
class Budget:
    """One line of the issue's budgets: ``measure`` (a key of the run's figures) ``comparison`` ``limit``."""

    name: str
    measure: str
    comparison: Comparison
    limit: float
    unit: str = ""

    def judge(self, figures: dict[str, float | None]) -> dict[str, object]:
        """The budget with the measured value and its verdict (``n/a`` when the figure is missing)."""
        value = figures.get(self.measure)
        return {
            "budget": self.name,
            "measure": self.measure,
            "value": value,
            "limit": f"{self.comparison} {self.limit:g}{self.unit}",
            "verdict": verdict(value, self.comparison, self.limit),
        }


# The budgets (2 cores; ratios against the ceiling of the same run).
BUDGETS: tuple[Budget, ...] = (
    Budget("poll (running job): throughput vs ceiling", "poll_running.ratio", ">=", 0.30),
    Budget("poll (finished job): upstream calls", "poll_finished.upstream_calls", "<=", 0),
    Budget("task page: p95 at 8 clients", "task_page.p95_ms", "<=", 250, " ms"),
    Budget("task page: throughput vs ceiling", "task_page.ratio", ">=", 0.15),
    Budget("projects: p50 page 1 of 2,000 / page 1 of 20", "projects.latency_ratio", "<=", 1.5),
    Budget("job end to end: p50", "job_e2e.p50_ms", "<=", 1000, " ms"),
    Budget("job end to end: p95", "job_e2e.p95_ms", "<=", 2000, " ms"),
    Budget("task page: upstream calls", "task_page.upstream_calls", "<=", 3),
    Budget("poll (running job): upstream calls", "poll_running.upstream_calls", "<=", 1),
    Budget("poll response size (largest of running/finished)", "poll.max_bytes", "<=", 2048, " B"),
    Budget("task page first load (HTML+CSS+JS, raw)", "first_load.raw_bytes", "<=", 150 * 1024, " B"),
)
