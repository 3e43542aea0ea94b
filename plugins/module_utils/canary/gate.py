# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary_analysis task: observe a window, judge it, and on a failed step move traffic back.

Shared by the module and by its action plugin, which calls it in the controller's own process
when the task runs on the controller (plugins/plugin_utils/_controller_module.py).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.analysis import (
    BASELINE,
    WINDOW,
    AnalysisError,
    Baseline,
    Thresholds,
    analyse,
    baseline_from_dict,
    group_figures,
    probe_figures,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.window import (
    WindowError,
    check_seconds,
    observe,
    select_groups,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.gate import FAIL, INCONCLUSIVE, PASS, Gate, Verdict
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.pool import HAProxyPool
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import DEFAULT_SOCKET, HAProxyError

__all__ = ["ARGUMENT_SPEC", "FELL_BACK", "CounterComparison", "StepFailed", "judge_step"]

THRESHOLDS = [field.name for field in dataclasses.fields(Thresholds)]
FELL_BACK = "all traffic sent back to the stable servers"


class StepFailed(LastmileError):
    """The canary step failed (or could not be judged); ``result`` holds its figures and what became of traffic."""


ARGUMENT_SPEC = dict(
    socket=dict(type="str", default=DEFAULT_SOCKET),
    backend=dict(type="str", required=True),
    canary=dict(type="list", elements="str", required=True),
    stable=dict(type="list", elements="str"),
    interval=dict(type="float", required=True),
    min_requests=dict(type="int", default=20),
    max_error_rate=dict(type="float", default=0.01),
    max_error_rate_increase=dict(type="float", default=0.005),
    max_latency_ratio=dict(type="float", default=1.5),
    latency_floor_ms=dict(type="float", default=20.0),
    canary_urls=dict(type="list", elements="str", default=[]),
    stable_urls=dict(type="list", elements="str", default=[]),
    probe_interval=dict(type="float", default=0.5),
    probe_timeout=dict(type="float", default=2.0),
    min_probe_samples=dict(type="int", default=20),
    alpha=dict(type="float", default=0.05),
    fail_on_inconclusive=dict(type="bool", default=False),
    baseline=dict(type="dict"),
    on_fail_weights=dict(type="dict"),
    on_fail_drain=dict(type="list", elements="str", default=[]),
    names=dict(type="list", elements="str", default=["canary", "stable"]),
    each=dict(type="bool", default=False),
)


def checked_options(params: dict) -> tuple:
    """(thresholds, baseline or None), or raise AnalysisError naming the first bad value."""
    try:
        check_seconds(interval=params["interval"], probe_interval=params["probe_interval"],
                      probe_timeout=params["probe_timeout"])
    except WindowError as exc:
        raise AnalysisError(str(exc)) from exc
    thresholds = Thresholds(**{name: params[name] for name in THRESHOLDS}).validate()
    if len(params["names"]) != 2 or not all(name.strip() for name in params["names"]):
        raise AnalysisError("names is %r: expected two words, what the canary and the stable servers are called"
                            % (params["names"],))
    if params.get("each") and (params["canary_urls"] or params["stable_urls"]):
        raise AnalysisError("each judges every canary server on its own counters, and canary_urls and stable_urls "
                            "probe the groups as wholes: leave the URLs out, or each")
    return thresholds, baseline_from_dict(params["baseline"]) if params["baseline"] is not None else None


class CounterComparison(Gate):
    """The canary gate: the load balancer's counters of the canary servers against the stable ones (or an earlier
    baseline of them) over one window, with active probes where URLs are given."""

    name = "LB counters"

    def __init__(self, params: dict, thresholds: Thresholds, baseline: Optional[Baseline]) -> None:
        self.params, self.thresholds, self.baseline = params, thresholds, baseline

    def judge(self) -> Verdict:
        params, baseline = self.params, self.baseline
        pool = HAProxyPool(params["backend"], params["socket"])
        canary, stable = select_groups(params["backend"], pool.snapshot(), params["canary"], params["stable"],
                                       stable_may_be_empty=baseline is not None)
        window = observe(
            pool, canary + stable, params["interval"],
            canary_urls=params["canary_urls"], stable_urls=params["stable_urls"],
            probe_interval=params["probe_interval"], probe_timeout=params["probe_timeout"],
        )
        canary_figures = group_figures(canary, window.before, window.after)
        stable_figures = group_figures(stable, window.before, window.after)
        canary_probes = probe_figures(window.canary_probes) if window.canary_probes is not None else None
        stable_probes = probe_figures(window.stable_probes) if window.stable_probes is not None else None
        names = tuple(params["names"])
        if params.get("each"):
            return self._judge_each(canary, stable_figures, window, names)
        analysis = analyse(canary_figures, stable_figures, self.thresholds, canary_probes, stable_probes, baseline,
                           names=names)
        figures = dict(
            verdict=analysis.verdict,
            reasons=analysis.reasons,
            window_s=window.window_s,
            canary=canary_figures.as_dict(),
            stable=stable_figures.as_dict(),
            stable_source=analysis.stable_source,
        )
        if analysis.stable_source == BASELINE:
            figures["baseline"] = baseline.as_dict()
        if canary_probes is not None or stable_probes is not None:
            figures["probes"] = dict(
                canary=canary_probes.as_dict() if canary_probes else None,
                stable=stable_probes.as_dict() if stable_probes else None,
                mann_whitney=analysis.mann_whitney.as_dict() if analysis.mann_whitney else None,
            )
        return Verdict(self.name, analysis.verdict, analysis.reasons, figures)

    def _judge_each(self, canary: list, stable_figures, window, names: tuple) -> Verdict:
        """Every canary server judged on its own against the stable group, from the same window: the worst
        verdict, the reasons of the servers that did not pass (each named), and each server's under ``each``."""
        each = {}
        for server in canary:
            figures = group_figures([server], window.before, window.after)
            # one server alone is the group, and its sentences read as the group's
            named = names[0] if len(canary) == 1 else "%s server %s" % (names[0], server)
            analysis = analyse(figures, stable_figures, self.thresholds, baseline=self.baseline, names=(named, names[1]))
            each[server] = dict(verdict=analysis.verdict, reasons=analysis.reasons, figures=figures.as_dict(),
                                stable_source=analysis.stable_source)
        outcomes = [judged["verdict"] for judged in each.values()]
        outcome = FAIL if FAIL in outcomes else INCONCLUSIVE if INCONCLUSIVE in outcomes else PASS
        # the reasons of the worst: a failure's without those of servers that were only inconclusive
        reasons = [reason for judged in each.values() if judged["verdict"] == outcome != PASS for reason in judged["reasons"]]
        sources = {judged["stable_source"] for judged in each.values()}
        if not reasons:
            reasons = (next(iter(each.values()))["reasons"] if len(each) == 1
                       else ["every %s server passed on its own: %s" % (names[0], ", ".join(canary))])
        figures = dict(verdict=outcome, reasons=reasons,
                       window_s=window.window_s, canary=group_figures(canary, window.before, window.after).as_dict(),
                       stable=stable_figures.as_dict(), stable_source=BASELINE if BASELINE in sources else WINDOW,
                       each=each)
        if BASELINE in sources:
            figures["baseline"] = self.baseline.as_dict()
        return Verdict(self.name, outcome, figures["reasons"], figures)


def judge_step(params: dict, check_mode: bool) -> dict:
    """The task's result: the verdict and its figures; raises StepFailed when the step fails."""

    def failed(msg: str, only=None, **result) -> StepFailed:
        fallback = fall_back(params, check_mode, only)
        if fallback:
            result.update(fallback=fallback, changed=fallback == FELL_BACK)
        return StepFailed(msg, result=result)

    try:
        thresholds, baseline = checked_options(params)
    except AnalysisError as exc:
        # bad options: nothing was read, so nothing is moved either
        raise StepFailed(str(exc), result=dict(changed=False)) from exc
    try:
        verdict = CounterComparison(params, thresholds, baseline).judge()
    except (HAProxyError, WindowError, AnalysisError) as exc:
        raise failed(str(exc), changed=False) from exc
    result = dict(verdict.figures, changed=False)
    canary = ", ".join(result["canary"]["servers"])
    canary_name, stable_name = params["names"]
    if result["stable_source"] == BASELINE:
        label = result["baseline"]["label"]
        groups = "%s %s over %.1fs vs the earlier stable figures%s" % (
            canary_name, canary, result["window_s"], " (%s)" % label if label else "")
    else:
        groups = "%s %s vs %s %s over %.1fs" % (
            canary_name, canary, stable_name, ", ".join(result["stable"]["servers"]), result["window_s"])
    blocking = None
    if params.get("each"):
        blocking = [server for server, judged in result["each"].items()
                    if Verdict(verdict.gate, judged["verdict"]).blocks(params["fail_on_inconclusive"])]
        result["failed_servers"] = blocking
    if verdict.blocks(params["fail_on_inconclusive"]):
        said = "failed" if verdict.outcome == FAIL else "is inconclusive"
        setting = " and fail_on_inconclusive is set" if verdict.outcome == INCONCLUSIVE else ""
        what = "canary analysis" if canary_name == "canary" else "judging the LB counters"
        judged = "; each server on its own, stopped by %s" % ", ".join(blocking) if blocking and len(result["each"]) > 1 else ""
        raise failed("%s of backend '%s' %s (%s%s)%s: %s"
                     % (what, params["backend"], said, groups, judged, setting, "; ".join(verdict.reasons)),
                     only=blocking, **result)
    return result


def fall_back(params: dict, check_mode: bool, only: Optional[list] = None) -> str:
    """On a failed step, set on_fail_weights and on_fail_drain in one round trip; say what happened. With
    ``only`` (the servers that failed on their own, with O(each)), on_fail_drain drains only those of them."""
    changes = {name: {"weight": weight} for name, weight in (params["on_fail_weights"] or {}).items()}
    for name in params["on_fail_drain"] if only is None else [name for name in params["on_fail_drain"] if name in only]:
        changes.setdefault(name, {})["admin"] = "drain"
    if not changes:
        return ""
    if check_mode:
        return "check mode: traffic not moved"
    try:
        HAProxyPool(params["backend"], params["socket"]).apply(changes)
    except (HAProxyError, ValueError, TypeError) as exc:
        return "sending all traffic back to the stable servers failed: %s" % exc
    return FELL_BACK
