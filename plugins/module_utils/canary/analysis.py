# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary versus stable: figures over an observation window, a Mann-Whitney U test, a verdict.

Pure functions over numbers; reading HAProxy and probing hosts happen elsewhere.

How the error checks count, per group over the window: errors are HAProxy's 5xx responses plus
its failed requests (connection and response errors: the server gave no valid response and
HAProxy answered 502/503 itself, counted in no status class), out of responses plus failed
requests. Each active probe is one more request, a failed probe (5xx or no HTTP response) one
more error. min_requests applies to the same total: requests, failed requests and probes.
The response-time check uses HAProxy's figures only; probe latencies go to the Mann-Whitney test.

When the stable group served fewer than min_requests in the window (it takes no traffic at a
canary's 100 % step) and a baseline is given - stable figures observed earlier, with at least
min_requests requests - the canary is judged against the baseline instead, and every sentence
that names the stable side says so.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.gate import FAIL, INCONCLUSIVE, PASS
from ansible_collections.lastmile.deploy.plugins.module_utils.lb.pool import STATUS_CLASSES, Counters
from ansible_collections.lastmile.deploy.plugins.module_utils.stats import nearest_rank

WINDOW, BASELINE = "window", "baseline"


class AnalysisError(LastmileError):
    """Figures or thresholds that cannot be analysed (negative deltas, out-of-range values)."""


@dataclasses.dataclass
class Thresholds:
    """Limits of the verdict; the defaults are the module's."""

    min_requests: int = 20
    max_error_rate: float = 0.01
    max_error_rate_increase: float = 0.005
    max_latency_ratio: float = 1.5
    latency_floor_ms: float = 20.0
    min_probe_samples: int = 20
    alpha: float = 0.05

    def validate(self) -> "Thresholds":
        """Return self, or raise naming the first value out of range."""
        for name, low, high, open_interval in _LIMITS:
            value = getattr(self, name)
            number = not isinstance(value, bool) and isinstance(value, (int, float)) and not math.isnan(value)
            if open_interval:
                ok = number and low < value < high
                expected = "in (%g, %g)" % (low, high)
            else:
                ok = number and value >= low and (high is None or value <= high)
                expected = ">= %g" % low if high is None else "in [%g, %g]" % (low, high)
            if not ok:
                raise AnalysisError("%s is %r; expected a number %s" % (name, value, expected))
        return self


# (option, lowest, highest or None, whether both ends are excluded)
_LIMITS = (
    ("min_requests", 0, None, False),
    ("max_error_rate", 0, 1, False),
    ("max_error_rate_increase", 0, 1, False),
    ("max_latency_ratio", 1, None, False),
    ("latency_floor_ms", 0, None, False),
    ("min_probe_samples", 1, None, False),
    ("alpha", 0, 1, True),
)


@dataclasses.dataclass
class GroupFigures:
    """What HAProxy served for one group of servers over the window."""

    servers: List[str]
    requests: int
    responses: int
    responses_2xx: int
    responses_3xx: int
    responses_4xx: int
    responses_5xx: int
    responses_other: int
    failed_requests: int
    error_rate: Optional[float]
    response_time_ms: Optional[float]

    @property
    def errors(self) -> int:
        return self.responses_5xx + self.failed_requests

    @property
    def outcomes(self) -> int:
        """Requests with a known outcome: a response or a failure."""
        return self.responses + self.failed_requests

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Baseline:
    """Stable figures observed earlier, and where they came from (for instance 'step 2 at 50%')."""

    figures: GroupFigures
    label: str = ""

    @property
    def name(self) -> str:
        """How the verdict's sentences call this side."""
        return "earlier stable figures (%s)" % self.label if self.label else "earlier stable figures"

    @property
    def seen(self) -> int:
        return self.figures.requests + self.figures.failed_requests

    def as_dict(self) -> dict:
        return dict(self.figures.as_dict(), label=self.label)


_BASELINE_COUNTS = ("requests", "responses", "responses_2xx", "responses_3xx", "responses_4xx", "responses_5xx",
                    "responses_other", "failed_requests")
_BASELINE_REQUIRED = ("requests", "responses", "responses_5xx", "failed_requests")


def baseline_from_dict(data: object) -> Baseline:
    """A Baseline from a dict shaped like the module's returned C(stable) figures, plus an optional label.

    error_rate, when present, is ignored and worked out again from the counts.
    """
    if not isinstance(data, dict):
        raise AnalysisError("baseline is %r; expected a dict of stable figures such as an earlier result's 'stable'"
                            % (data,))
    known = [field.name for field in dataclasses.fields(GroupFigures)] + ["label"]
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise AnalysisError("baseline has unknown key %s; expected keys among %s"
                            % (", ".join(repr(key) for key in unknown), ", ".join(known)))
    missing = [key for key in _BASELINE_REQUIRED if key not in data]
    if missing:
        raise AnalysisError("baseline lacks %s; expected at least %s" % (", ".join(missing), ", ".join(_BASELINE_REQUIRED)))
    counts = {}
    for key in _BASELINE_COUNTS:
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AnalysisError("baseline %s is %r; expected a whole number >= 0" % (key, value))
        counts[key] = value
    if counts["responses_5xx"] > counts["responses"]:
        raise AnalysisError("baseline responses_5xx is %d, more than its responses %d; expected at most responses"
                            % (counts["responses_5xx"], counts["responses"]))
    response_time = data.get("response_time_ms")
    number = not isinstance(response_time, bool) and isinstance(response_time, (int, float))
    if response_time is not None and not (number and math.isfinite(response_time) and response_time >= 0):
        raise AnalysisError("baseline response_time_ms is %r; expected null or a number of milliseconds >= 0"
                            % (response_time,))
    label = data.get("label", "")
    if not isinstance(label, str):
        raise AnalysisError("baseline label is %r; expected a string saying where the figures came from" % (label,))
    servers = data.get("servers", [])
    if not isinstance(servers, list) or not all(isinstance(name, str) for name in servers):
        raise AnalysisError("baseline servers is %r; expected a list of server names" % (servers,))
    errors = counts["responses_5xx"] + counts["failed_requests"]
    return Baseline(GroupFigures(
        servers=list(servers),
        error_rate=_ratio(errors, counts["responses"] + counts["failed_requests"], 6),
        response_time_ms=None if response_time is None else float(response_time),
        **counts
    ), label)


@dataclasses.dataclass
class ProbeSample:
    """One active probe: status and latency are None when no HTTP response came."""

    status: Optional[int]
    latency_ms: Optional[float]
    error: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


@dataclasses.dataclass
class ProbeFigures:
    """Active probes of one group; latencies cover probes that got an HTTP response."""

    count: int
    errors: int
    error_rate: Optional[float]
    p50_ms: Optional[float]
    p95_ms: Optional[float]
    latencies_ms: List[float] = dataclasses.field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in ("count", "errors", "error_rate", "p50_ms", "p95_ms")}


@dataclasses.dataclass
class MannWhitney:
    """One-sided test that the first sample tends to be larger (canary slower)."""

    u: float
    z: float
    p_value: float
    n_canary: int
    n_stable: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Analysis:
    """The verdict, the sentences that justify it, and the test result when one was run."""

    verdict: str
    reasons: List[str]
    mann_whitney: Optional[MannWhitney] = None
    stable_source: str = WINDOW


_SUMMED = ("requests", "connection_errors", "response_errors") + tuple("responses_" + name for name in STATUS_CLASSES)


def group_figures(servers: Sequence[str], before: Dict[str, Counters], after: Dict[str, Counters]) -> GroupFigures:
    """Sum the counter deltas of `servers`; response time is rtime weighted by request delta."""
    deltas = {}
    for name in servers:
        old, new = before[name], after[name]
        delta = {field.name: getattr(new, field.name) - getattr(old, field.name) for field in dataclasses.fields(Counters)}
        shrunk = sorted(key for key, value in delta.items() if value < 0 and key != "response_time_ms")
        if shrunk:
            raise AnalysisError(
                "HAProxy counters of server '%s' went down during the window (%s); was HAProxy reloaded?"
                % (name, ", ".join("%s %d -> %d" % (key, getattr(old, key), getattr(new, key)) for key in shrunk))
            )
        deltas[name] = delta
    total = {key: sum(delta[key] for delta in deltas.values()) for key in _SUMMED}
    responses = sum(total["responses_" + name] for name in STATUS_CLASSES)
    failed = total["connection_errors"] + total["response_errors"]
    weighted = sum(after[name].response_time_ms * deltas[name]["requests"] for name in servers)
    return GroupFigures(
        servers=list(servers),
        requests=total["requests"],
        responses=responses,
        responses_2xx=total["responses_2xx"],
        responses_3xx=total["responses_3xx"],
        responses_4xx=total["responses_4xx"],
        responses_5xx=total["responses_5xx"],
        responses_other=total["responses_1xx"] + total["responses_other"],
        failed_requests=failed,
        error_rate=_ratio(total["responses_5xx"] + failed, responses + failed, 6),
        response_time_ms=round(float(weighted) / total["requests"], 3) if total["requests"] else None,
    )


def probe_figures(samples: Sequence[ProbeSample]) -> ProbeFigures:
    """Error count and rate, p50 and p95 (nearest rank) of one group's probes."""
    latencies = sorted(sample.latency_ms for sample in samples if sample.latency_ms is not None)
    errors = sum(1 for sample in samples if sample.failed)
    return ProbeFigures(
        count=len(samples),
        errors=errors,
        error_rate=_ratio(errors, len(samples), 6),
        p50_ms=nearest_rank(latencies, 50),
        p95_ms=nearest_rank(latencies, 95),
        latencies_ms=latencies,
    )


def midranks(values: Sequence[float]) -> tuple:
    """Ranks (1-based, ties get their average rank) and the tie term sum(t**3 - t)."""
    order = sorted(range(len(values)), key=lambda index: values[index])
    ranks = [0.0] * len(values)
    tie_term = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2.0 + 1.0
        tied = end - start + 1
        tie_term += tied ** 3 - tied
        start = end + 1
    return ranks, tie_term


def mann_whitney_greater(canary: Sequence[float], stable: Sequence[float]) -> MannWhitney:
    """One-sided Mann-Whitney U test of 'canary tends to be larger than stable'.

    U counts the (canary, stable) pairs where canary is larger (ties count 1/2). The p-value
    uses the normal approximation with tie correction and continuity correction; when every
    value is tied there is no evidence either way and p is 1.
    """
    n1, n2 = len(canary), len(stable)
    if not n1 or not n2:
        raise AnalysisError("Mann-Whitney U needs values in both samples; got %d canary and %d stable" % (n1, n2))
    ranks, tie_term = midranks(list(canary) + list(stable))
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return MannWhitney(u=u, z=0.0, p_value=1.0, n_canary=n1, n_stable=n2)
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return MannWhitney(u=u, z=z, p_value=0.5 * math.erfc(z / math.sqrt(2.0)), n_canary=n1, n_stable=n2)


def analyse(
    canary: GroupFigures,
    stable: GroupFigures,
    thresholds: Thresholds,
    canary_probes: Optional[ProbeFigures] = None,
    stable_probes: Optional[ProbeFigures] = None,
    baseline: Optional[Baseline] = None,
    names: Tuple[str, str] = ("canary", "stable"),
) -> Analysis:
    """Inconclusive when a group saw too few requests; fail when any check fails; else pass.

    ``names``: what the sentences call the two groups (a batch and the rest of the fleet, for instance).

    The stable side is the window's stable figures, or `baseline` when the stable group served
    fewer than min_requests in the window and the baseline has at least min_requests; the first
    reason then says so. Probe latencies of both groups still go to the Mann-Whitney test.
    """
    limits = thresholds.validate()
    canary_name = names[0]
    canary_short = _shortfall(canary_name, canary, canary_probes, limits)
    stable_short = _shortfall(names[1], stable, stable_probes, limits)
    test = _latency_test(canary_probes, stable_probes, limits)
    source, judged, judged_probes, stable_name, notes = WINDOW, stable, stable_probes, names[1], []
    if stable_short and baseline is not None:
        if baseline.seen >= limits.min_requests:
            source, judged, judged_probes, stable_name = BASELINE, baseline.figures, None, baseline.name
            notes.append("%s: the %s is judged against the %s, %d requests" % (stable_short, canary_name, baseline.name, baseline.seen))
            stable_short = ""
        else:
            stable_short += ", and the %s have %d, fewer as well" % (baseline.name, baseline.seen)
    shortfalls = [text for text in (canary_short, stable_short) if text]
    if shortfalls:
        return Analysis(INCONCLUSIVE, notes + shortfalls, test, source)
    failed, passed = [], []
    for ok, sentence in _error_checks(canary, judged, canary_probes, judged_probes, (canary_name, stable_name), limits,
                                      window=source == WINDOW):
        (passed if ok else failed).append(sentence)
    for ok, sentence in _latency_checks(canary, judged, canary_probes, stable_probes, test, names, stable_name, limits):
        (passed if ok else failed).append(sentence)
    return Analysis(FAIL, notes + failed, test, source) if failed else Analysis(PASS, notes + passed, test, source)


def _shortfall(label, figures, probes, limits) -> str:
    """The sentence saying a group served fewer than min_requests in the window, or ''."""
    seen = figures.requests + figures.failed_requests + (probes.count if probes else 0)
    if seen >= limits.min_requests:
        return ""
    parts = [(figures.requests, "answered"), (figures.failed_requests, "failed"), (probes.count if probes else 0, "probes")]
    parts = ["%d %s" % part for part in parts if part[0]]
    detail = " (%s)" % " + ".join(parts) if parts and (probes or figures.failed_requests) else ""
    return "%s served %d requests%s in the window, fewer than min_requests %d" % (label, seen, detail, limits.min_requests)


def _error_checks(canary, stable, canary_probes, stable_probes, names, limits, window=True) -> list:
    canary_name, stable_name = names
    canary_errors, canary_total = _errors(canary, canary_probes)
    stable_errors, stable_total = _errors(stable, stable_probes)
    canary_rate, stable_rate = _ratio(canary_errors, canary_total), _ratio(stable_errors, stable_total)
    canary_text = _rate_text(canary_rate, canary_errors, canary_total, canary, canary_probes)
    stable_text = _rate_text(stable_rate, stable_errors, stable_total, stable, stable_probes)
    if canary_rate is None:
        return [(True, "%s error rate not checked: no response in the window" % canary_name)]
    checks = [(
        canary_rate <= limits.max_error_rate,
        "%s error rate %s %s max_error_rate %g; %s %s"
        % (canary_name, canary_text, "<=" if canary_rate <= limits.max_error_rate else ">", limits.max_error_rate,
           stable_name, stable_text),
    )]
    if stable_rate is None:
        checks.append((True, "error rate increase not checked: no %s response in the window" % stable_name if window
                       else "error rate increase not checked: the %s hold no response" % stable_name))
    else:
        increase = canary_rate - stable_rate
        # Rounded so that float noise (0.0105 - 0.0055 = 0.005000000000000001) does not fail a check.
        ok = round(increase, 12) <= limits.max_error_rate_increase
        checks.append((
            ok,
            "%s error rate %s - %s %s = %s %s max_error_rate_increase %g"
            % (canary_name, canary_text, stable_name, stable_text, _fmt_rate(increase), "<=" if ok else ">",
               limits.max_error_rate_increase),
        ))
    return checks


def _latency_checks(canary, stable, canary_probes, stable_probes, test, names, stable_name, limits) -> list:
    """``stable_name``: what the compared figures are called (the window's stable group or a baseline); the
    probes are always the window's groups, ``names``."""
    canary_name = names[0]
    checks = []
    if canary.response_time_ms is None or stable.response_time_ms is None:
        checks.append((True, "response time not compared: a group served no request through HAProxy"))
    else:
        checks.append(_slower_check(
            "%s response time %.1f ms" % (canary_name, canary.response_time_ms), canary.response_time_ms,
            "%s %.1f ms" % (stable_name, stable.response_time_ms), stable.response_time_ms, limits,
        ))
    if test is not None:
        significant = test.p_value < limits.alpha
        ok, sentence = _slower_check(
            "%s probe p50 %.1f ms" % (canary_name, canary_probes.p50_ms), canary_probes.p50_ms,
            "%s p50 %.1f ms" % (names[1], stable_probes.p50_ms), stable_probes.p50_ms, limits,
        )
        checks.append((
            ok or not significant,
            "probe latency Mann-Whitney U %.1f, z %.3f, one-sided p %.4f %s alpha %g; %s"
            % (test.u, test.z, test.p_value, "<" if significant else ">=", limits.alpha, sentence),
        ))
    elif canary_probes is not None or stable_probes is not None:
        checks.append((True, "probe latency not tested: fewer than min_probe_samples %d latencies in a group (%s)"
                       % (limits.min_probe_samples, _latency_counts(canary_probes, stable_probes, names))))
    return checks


def _slower_check(canary_text: str, canary_ms: float, stable_text: str, stable_ms: float, limits) -> tuple:
    """(ok, sentence): not ok when canary > ratio x stable while above the latency floor."""
    ratio, floor = limits.max_latency_ratio, limits.latency_floor_ms
    limit = ratio * stable_ms
    head = "%s %s max_latency_ratio %g x %s (%.1f ms)" % (
        canary_text, ">" if canary_ms > limit else "<=", ratio, stable_text, limit)
    if canary_ms <= limit:
        return True, head
    if canary_ms <= floor:
        return True, "%s but <= latency_floor_ms %g" % (head, floor)
    return False, "%s and > latency_floor_ms %g" % (head, floor)


def _latency_test(canary_probes, stable_probes, limits) -> Optional[MannWhitney]:
    if canary_probes is None or stable_probes is None:
        return None
    canary, stable = canary_probes.latencies_ms, stable_probes.latencies_ms
    if min(len(canary), len(stable)) < limits.min_probe_samples:
        return None
    return mann_whitney_greater(canary, stable)


def _latency_counts(canary_probes, stable_probes, names) -> str:
    return ", ".join(
        "%s %s" % (label, len(probes.latencies_ms) if probes is not None else "none")
        for label, probes in zip(names, (canary_probes, stable_probes))
    )


def _errors(figures: GroupFigures, probes: Optional[ProbeFigures]) -> tuple:
    if probes is None:
        return figures.errors, figures.outcomes
    return figures.errors + probes.errors, figures.outcomes + probes.count


def _rate_text(rate, errors, total, figures, probes) -> str:
    parts = []
    if figures.failed_requests:
        parts.append("%d failed without response" % figures.failed_requests)
    if probes is not None:
        parts.append("probes %d/%d" % (probes.errors, probes.count))
    included = " incl. " + ", ".join(parts) if parts else ""
    return "%s (%d/%d%s)" % (_fmt_rate(rate), errors, total, included)


def _fmt_rate(rate: Optional[float]) -> str:
    if rate is None:
        return "n/a"
    return "%.3f" % rate if rate == 0 or abs(rate) >= 0.01 else "%.5f" % rate


def _ratio(part: int, whole: int, digits: Optional[int] = None) -> Optional[float]:
    if not whole:
        return None
    return float(part) / whole if digits is None else round(float(part) / whole, digits)
