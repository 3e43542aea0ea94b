# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures over samples: nearest-rank percentiles, error rates, and a sample judged against thresholds.

Plain arithmetic, shared by the health gate (over probe results) and the canary analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

PERCENTILES = (50, 90, 95, 99)


class StatsError(LastmileError, ValueError):
    """A figure cannot be computed as asked (a percentile out of range)."""


@dataclass
class SampleStats:
    """Figures over ``count`` requests. Latency percentiles (nearest-rank) cover requests
    that got an HTTP response; requests without one count only as failures."""

    url: str
    count: int
    failures: int
    error_rate: float
    p50_ms: Optional[float]
    p90_ms: Optional[float]
    p95_ms: Optional[float]
    p99_ms: Optional[float]
    max_ms: Optional[float]
    statuses: Dict[str, int]
    latencies_ms: List[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        figures = {name: getattr(self, name) for name in (
            "url", "count", "failures", "error_rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
        )}
        figures["statuses"] = dict(self.statuses)
        return figures


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> Optional[float]:
    """Nearest-rank percentile: the smallest value with at least ``percentile`` % of values <= it."""
    if not 0 < percentile <= 100:
        raise StatsError("percentile must be in (0, 100], got %r" % (percentile,))
    if not sorted_values:
        return None
    rank = max(1, int(math.ceil(percentile / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def summarise(url: str, results: Sequence[Any]) -> SampleStats:
    """Aggregate probe results (``status``, ``latency_ms``, ``ok``) into error rate, status counts
    and latency percentiles."""
    statuses: Dict[str, int] = {}
    for result in results:
        key = str(result.status) if result.status is not None else "error"
        statuses[key] = statuses.get(key, 0) + 1
    latencies = sorted(r.latency_ms for r in results if r.latency_ms is not None)
    failures = sum(1 for r in results if not r.ok)
    points = {p: nearest_rank(latencies, p) for p in PERCENTILES}
    return SampleStats(
        url=url,
        count=len(results),
        failures=failures,
        error_rate=round(float(failures) / len(results), 6) if results else 0.0,
        p50_ms=points[50],
        p90_ms=points[90],
        p95_ms=points[95],
        p99_ms=points[99],
        max_ms=latencies[-1] if latencies else None,
        statuses=statuses,
        latencies_ms=latencies,
    )


def evaluate(
    stats: SampleStats,
    max_error_rate: Optional[float],
    max_latency_ms: Optional[float],
    latency_percentile: float = 95,
) -> List[str]:
    """Failure texts for every threshold the sample does not meet (None = not checked)."""
    failures = []
    over = "over %d samples" % stats.count
    if max_error_rate is not None and stats.error_rate > max_error_rate:
        failures.append(
            "%s: error rate %.4g > %g %s (%d failed, statuses %s)"
            % (stats.url, stats.error_rate, max_error_rate, over, stats.failures, _statuses_text(stats))
        )
    if max_latency_ms is not None:
        value = nearest_rank(stats.latencies_ms, latency_percentile)
        if value is None:
            failures.append(
                "%s: no response to measure p%g latency %s" % (stats.url, latency_percentile, over)
            )
        elif value > max_latency_ms:
            failures.append(
                "%s: p%g latency %.1f ms > %g ms %s"
                % (stats.url, latency_percentile, value, max_latency_ms, over)
            )
    return failures


def _statuses_text(stats: SampleStats) -> str:
    return ", ".join("%s x%d" % (key, stats.statuses[key]) for key in sorted(stats.statuses))
