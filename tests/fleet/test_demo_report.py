# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo's judgement of each deployment and its summary (no services needed)."""
from __future__ import annotations

from fleet.demo_report import PROMOTE, ROLL_BACK, Deployment, result_line
from fleet.load import LoadReport
from fleet.progress import CanaryStep, GroupFigures

LB = {"app1": ("ready", 100), "app2": ("ready", 100)}
CAUSE = "app1: canary step 1 (10% of traffic): canary error rate 0.302 (90/298) > max_error_rate 0.001"
ROLLED_BACK = ("app1: The deployment of sample v3 failed and was rolled back. Cause: %s. "
               "Restored: app1 -> v2; load balancer state as read before the run. " % CAUSE)


def canary_step(number: int, verdict: str) -> CanaryStep:
    return CanaryStep(number, 3, str((10, 50, 100)[number - 1]), verdict, GroupFigures(20, 0.0, 1.0),
                      GroupFigures(80, 0.0, 1.2), seconds=4.2)


def promoted(**changes) -> Deployment:
    deployment = Deployment("v2", "canary", "1 host", PROMOTE, previous="v1", planned_steps=3, rc=0,
                            load=LoadReport(url="x", total=500, ok=500),
                            served={"app1": "v2", "app2": "v2"},
                            current={"app1": "releases/v2", "app2": "releases/v2"},
                            canary_steps=[canary_step(n, "pass") for n in (1, 2, 3)], lb_before=LB, lb_after=LB)
    for name, value in changes.items():
        setattr(deployment, name, value)
    return deployment


def rolled_back(**changes) -> Deployment:
    deployment = Deployment("v3", "canary", "1 host", ROLL_BACK, previous="v2", mode="errors", planned_steps=3, rc=2,
                            load=LoadReport(url="x", total=1000, ok=960, failed=40),
                            served={"app1": "v2", "app2": "v2"},
                            current={"app1": "releases/v2", "app2": "releases/v2"},
                            failures=["app1 -> lb1: canary analysis failed", ROLLED_BACK],
                            canary_steps=[canary_step(1, "fail")], lb_before=LB, lb_after=dict(LB))
    for name, value in changes.items():
        setattr(deployment, name, value)
    return deployment


def test_promoted_canary_is_as_expected_and_says_so():
    deployment = promoted()
    assert deployment.problems() == []
    report = deployment.report()
    assert report[0] == "v2: canary, 1 host: promoted to the whole fleet in 0.0s"
    assert report[1].startswith("  canary step 1/3 (10%):  pass; canary 20 requests") and report[1].endswith("(4.2s)")
    assert "each host answers (asked directly): app1 v2, app2 v2" in report[-1]


def test_promotion_with_a_failed_request_a_missing_step_or_a_host_left_behind_is_not():
    assert promoted(load=LoadReport(url="x", total=500, ok=499, failed=1)).problems() == [
        "v2: 1 requests failed through the front door, expected none"]
    assert "expected 3 passing steps" in promoted(canary_steps=[canary_step(1, "pass")]).problems()[0]
    assert promoted(served={"app1": "v2", "app2": None}).problems() == [
        "v2: app2 nothing, expected every host on v2"]


def test_rollback_by_itself_is_as_expected_and_tells_cause_and_restore():
    deployment = rolled_back()
    assert deployment.problems() == []
    assert deployment.outcome == "rolled back by itself"
    assert deployment.rollback["cause"] == CAUSE
    text = "\n".join(deployment.report())
    assert "cause: %s" % CAUSE[:60] in text and "restored: app1 -> v2; load balancer state" in text
    assert "2 of 3 canary steps not taken" in text and "(as before v3)" in text


def test_rollback_with_too_many_failures_changed_weights_or_a_host_on_the_bad_release_is_not():
    assert rolled_back(load=LoadReport(url="x", total=1000, ok=950, failed=50)).problems() == [
        "v3: 50 of 1000 requests failed, expected under 5%"]
    assert "expected those from before" in rolled_back(lb_after={**LB, "app1": ("drain", 0)}).problems()[0]
    assert rolled_back(served={"app1": "v3", "app2": "v2"}).problems() == ["v3: app1 v3, expected every host on v2"]
    assert "without saying it rolled back" in rolled_back(failures=["app1: boom"]).problems()[0]
    assert "expected the first step to fail" in rolled_back(canary_steps=[canary_step(1, "inconclusive")]).problems()[0]


def test_result_line_lists_every_problem_or_tells_the_story():
    ok, lines = result_line([promoted(), rolled_back()], "/x/ansible.log")
    assert ok and lines == ["Result: OK: v2 promoted with no failed request; v3 rolled back by itself (every host "
                            "back on v2, LB weights as before; 40 of 1000 requests failed, 4.0%)"]
    ok, lines = result_line([promoted(rc=2)], "/x/ansible.log", ["v3: not run"])
    assert not ok and lines[0] == "Result: FAILED" and "  v3: not run" in lines
    assert "  v2: the play failed (rc 2), expected it to succeed" in lines
