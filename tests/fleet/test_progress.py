# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compact progress view of ansible-playbook output (no services needed)."""
from __future__ import annotations

import io
import json
import re

from fleet.progress import Progress, failure_message


def banner(role: str, name: str) -> str:
    return "TASK [lastmile.deploy.%s : %s] ***" % (role, name)


def ran(name: str, result: str = "ok: [app1]", role: str = "") -> list:
    """A task's banner and the result line that says a host ran it."""
    return [banner(role, name) if role else "TASK [%s] ***" % name, result]


def batch(hosts: str, version: str = "v2", traffic_back: bool = True) -> list:
    """A batch as the rolling role's batch.yml and step.yml print it."""
    first = hosts.split(",")[0]
    back = "changed: [%s -> lb1]" % first if traffic_back else "skipping: [%s]" % first
    return (ran("Look for a failure before the batch", role="rolling")
            + ["TASK [lastmile.deploy.rolling : Move the batch to its target release] ***",
               "included: /x/roles/rolling/tasks/step.yml for %s" % hosts]
            + ran("Drain the batch in HAProxy and wait for its sessions to end", "changed: [%s -> lb1]" % first,
                  role="traffic")
            + ran("Remember that the batch may be out of the load balancer", "ok: [%s]" % first, role="traffic")
            + ran("Stop when the batch could not be drained", "skipping: [%s]" % first, role="traffic")
            + ran("Switch current and restart the service", "changed: [%s]" % first,
                  role="service")
            + ran("Verify the health of the host", "ok: [%s -> localhost]" % first, role="verify")
            + ran("Give the batch back its HAProxy state and weight", back, role="traffic")
            + ran("Stop when the batch could not be given back its traffic", "skipping: [%s]" % first, role="traffic"))


def view(lines: list) -> list:
    out = io.StringIO()
    progress = Progress(out)
    for line in lines:
        progress.line(line)
    progress.finish()
    # drop the timings: they depend on the clock
    return [re.sub(r"\[\s*[\d.]+s\] | \([\d.]+s\)", "", line) for line in out.getvalue().splitlines()], progress


START = (
    ran("Check the variables of the lock, the prechecks and the strategy")
    + ran("Take the deployment lock of sample", role="lock")
    + ran("Stop when another run holds the lock", "skipping: [app1]", role="lock")
    + ran("Verify the artifact checksum", role="precheck")
    + ran("Check host capacity", role="precheck")
    + ran("Start the run with a clean slate", role="rolling")
    + ran("Send the verified artifact and unpack the release", "changed: [app1]", role="release")
    + ran("Plan the batches", role="rolling")
)
ROLLOUT = (
    START
    + ["TASK [lastmile.deploy.rolling : Roll out batch by batch] ***",
       "included: /x/roles/rolling/tasks/batch.yml for app1, app2 => (item=batch 1/2: app1)",
       "included: /x/roles/rolling/tasks/batch.yml for app1, app2 => (item=batch 2/2: app2)"]
    + batch("app1") + batch("app2")
    + ran("Look for a failure in the run", role="rolling")
    + ["TASK [Put back every host this run changed] ***", "skipping: [app1]"]
    + ran("Give back the deployment lock of sample", "changed: [app1]", role="lock")
    + ["PLAY RECAP ***", "app1 : ok=3 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"]
)
PHASE_LINES = [
    "  lock: take the deployment lock on every host",
    "  precheck: check that the release can be deployed, changing nothing",
    "  stage: send the release to every host that needs it and unpack it",
]


def test_rollout_shows_one_line_per_phase_and_per_batch():
    lines, progress = view(ROLLOUT)
    assert lines == PHASE_LINES + [
        "  rolling: plan the batches",
        "  batch 1/2 app1: drain, switch, restart, verify, traffic back",
        "  batch 2/2 app2: drain, switch, restart, verify, traffic back",
        "  lock: give the deployment lock back",
    ]
    assert progress.failures == []


def test_failed_batch_shows_the_cause_and_the_restore():
    cut = ROLLOUT.index(banner("verify", "Verify the health of the host"))
    lines, progress = view(
        ROLLOUT[:cut - 1]
        + ['fatal: [app1]: FAILED! => {"changed": true, "msg": "app1 did not start", '
           '"stdout_lines": ["sample: ERROR (not running)", "sample: ERROR (spawn error)"]}']
        + ran("Remember why the step failed", role="rolling")
        + ran("Look for a failure before the batch", role="rolling")
        + ["TASK [lastmile.deploy.rolling : Move the batch to its target release] ***", "skipping: [app2]"]
        + ran("Look for a failure in the run", role="rolling")
        + ["TASK [Put back every host this run changed] ***", "included: lastmile.deploy.rollback for app1, app2"]
        + ran("Switch every host to restore mode", role="rollback") + ran("Plan the restore", role="rollback")
        + ["TASK [lastmile.deploy.rollback : Put the release each host had back, batch by batch] ***",
           "included: lastmile.deploy.rolling for app1, app2 => (item=app1)"]
        + batch("app1", version="v1")
        + ['fatal: [app1]: FAILED! => {"changed": false, "msg": "The deployment failed and was rolled back."}'])
    assert lines == PHASE_LINES + [
        "  rolling: plan the batches",
        "  batch 1/2 app1: drain, switch, restart",
        "  failed on app1: app1 did not start (sample: ERROR (spawn error))",
        "  rollback: put back every host the run changed, then fail naming the cause",
        "  restore app1: drain, switch, restart, verify, traffic back",
        "  failed on app1: The deployment failed and was rolled back.",
    ]
    assert len(progress.failures) == 2


def test_ignored_failure_is_not_reported():
    ignored = ['fatal: [app1]: FAILED! => {"msg": "nope"}', "...ignoring"]
    lines, progress = view(START[:8] + ignored)
    assert not any("nope" in line for line in lines) and progress.failures == []


def test_failure_message_reads_msg_or_keeps_raw_text_and_shortens():
    assert failure_message('{"msg": "boom\\n  twice"}') == "boom twice"
    assert failure_message("not json at all") == "not json at all"
    assert len(failure_message('{"msg": "%s"}' % ("x" * 500), limit=50)) == 50


STEP_INCLUDE = "included: /x/canary/tasks/step.yml for app1 => (item=step %d/3: %d%%)"
VERDICT = ('    "msg": "canary step %d (%d%%): pass; canary %s requests, error rate %s, %s ms; '
           'stable %s requests, error rate %s, %s ms; checks: canary error rate 0.000 <= max_error_rate 0.001; '
           'canary p50 2.0 ms <= 1.5 x stable 2.1 ms"')
FAIL_RESULT = json.dumps({
    "canary": {"error_rate": 0.3, "requests": 10, "response_time_ms": 2.0, "servers": ["app1"]},
    "stable": {"error_rate": 0.0, "requests": 98, "response_time_ms": 1.5, "servers": ["app2", "app3"]},
    "changed": False, "verdict": "fail",
    "msg": "canary analysis of backend 'sample' failed: canary error rate 0.300 (3/10) > max_error_rate 0.001",
    "reasons": ["canary error rate 0.300 (3/10) > max_error_rate 0.001", "increase 0.300 > 0.005"]})
SHIFT = banner("traffic", "Shift traffic in HAProxy")
SHIFTED = "changed: [app1 -> lb1]"
CANARY_START = (
    START[:8]
    + ran("Start the run with a clean slate", role="rolling")
    + ran("Check the LB provider", "skipping: [app1]", role="canary")
    + ran("Choose the canary hosts and plan the traffic steps", role="canary")
    + ran("Send the verified artifact and unpack the release", "changed: [app1]", role="release")
    + ran("Plan the batches", role="rolling")
    + ["TASK [Put the release on the canary hosts and verify them, out of rotation] ***",
       "included: lastmile.deploy.rolling for app1, app2, app3"]
    # the canary takes its traffic in steps: the batch's give-back is skipped
    + batch("app1", traffic_back=False)
    + ["TASK [lastmile.deploy.canary : Shift traffic to the canary step by step, with an analysis per step] ***",
       "skipping: [app2] => (item=step 1/3: 10%) ", "skipping: [app2] => (item=step 2/3: 50%) "]
    + [STEP_INCLUDE % (n, p) for n, p in ((1, 10), (2, 50), (3, 100))]
)
CANARY_LINES = PHASE_LINES[:2] + [
    "  canary: choose the canary hosts and plan the traffic steps",
    "  stage: send the release to every host that needs it and unpack it",
    "  canary app1: drain, switch, restart, verify",
]


def verdict(number: int, percent: int, canary: tuple, stable: tuple) -> list:
    return [SHIFT, SHIFTED, "TASK [lastmile.deploy.canary : Show the verdict] ***", "ok: [app1] => {",
            VERDICT % ((number, percent) + canary + stable), "}"]


def rest_of_fleet(*hosts: str) -> list:
    lines = ["included: lastmile.deploy.rolling for app1, app3, app2 => (item=%s)" % h for h in hosts]
    for host in hosts:
        lines += batch(host)
    return lines


def test_promoted_canary_shows_each_step_verdict_then_the_rest_of_the_fleet_in_batches():
    lines, progress = view(
        CANARY_START
        + verdict(1, 10, ("11", "0.0", "2.0"), ("101", "0.0", "1.337"))
        + verdict(2, 50, ("56", "0.0", "1.0"), ("57", "0.0", "1.333"))
        + verdict(3, 100, ("112", "0.0", "1.0"), ("0", "", " "))
        + [SHIFT, SHIFTED, banner("traffic", "Give the batch back its HAProxy state and weight"), "changed: [app1 -> lb1]"]
        + rest_of_fleet("app2", "app3")
        + ran("Look for a failure in the run", role="rolling") + ["PLAY RECAP ***"])
    assert lines == CANARY_LINES + [
        "  canary step 1/3 (10%): pass; canary 11 requests, error rate 0.000, 2.0 ms; "
        "stable 101 requests, error rate 0.000, 1.3 ms",
        "  canary step 2/3 (50%): pass; canary 56 requests, error rate 0.000, 1.0 ms; "
        "stable 57 requests, error rate 0.000, 1.3 ms",
        "  canary step 3/3 (100%): pass; canary 112 requests, error rate 0.000, 1.0 ms; stable no requests",
        "  traffic shift: every server back to its weight from before the run (canary promoted)",
        "  batch 1/2 app2: drain, switch, restart, verify, traffic back",
        "  batch 2/2 app3: drain, switch, restart, verify, traffic back",
    ]
    steps = progress.canary_steps
    assert [(s.step, s.steps, s.percent, s.verdict) for s in steps] == [
        (1, 3, "10", "pass"), (2, 3, "50", "pass"), (3, 3, "100", "pass")]
    assert (steps[0].canary.requests, steps[0].stable.requests, steps[0].stable.response_ms) == (11, 101, 1.337)
    assert (steps[2].stable.requests, steps[2].stable.error_rate, steps[2].stable.response_ms) == (0, None, None)
    assert all(s.seconds is not None for s in steps) and progress.failures == []


def test_failed_canary_step_shows_its_figures_the_cause_and_the_restore():
    cause = ("The deployment of sample v3 failed and was rolled back. Cause: app1: canary step 1 (10%% of traffic): "
             "canary analysis failed: %s. Restored: app1 -> v2; load balancer state as read before the run."
             % ("the reasons at length " * 15))
    lines, progress = view(
        CANARY_START + [SHIFT, SHIFTED]
        + ["TASK [lastmile.deploy.canary : Compare the canary with the stable servers] ***",
           "[ERROR]: Task failed: Module failed: canary analysis of backend 'sample' failed",
           "fatal: [app1 -> lb1]: FAILED! => " + FAIL_RESULT, ""]
        + [SHIFT, SHIFTED]
        # the steps not taken: their shift is skipped, and shows nothing
        + [SHIFT, "skipping: [app1]", SHIFT, "skipping: [app1]"]
        + ["included: lastmile.deploy.rolling for app1, app3, app2 => (item=%s)" % h for h in ("app2", "app3")]
        + (ran("Look for a failure before the batch", role="rolling")
           + ["TASK [lastmile.deploy.rolling : Move the batch to its target release] ***", "skipping: [app2]"]) * 2
        + ran("Look for a failure in the run", role="rolling")
        + ["TASK [Put back every host this run changed] ***"]
        + ran("Plan the restore", role="rollback")
        + ["included: lastmile.deploy.rolling for app1 => (item=app1)"]
        + batch("app1", version="v2")
        + ["fatal: [app1]: FAILED! => " + json.dumps({"changed": False, "msg": cause})])
    assert lines == CANARY_LINES + [
        "  canary step 1/3 (10%): fail; canary 10 requests, error rate 0.300, 2.0 ms; "
        "stable 98 requests, error rate 0.000, 1.5 ms",
        "  failed on app1 -> lb1: canary analysis of backend 'sample' failed: "
        "canary error rate 0.300 (3/10) > max_error_rate 0.001",
        "  traffic shift: all traffic back to the stable servers",
        "  rollback: put back every host the run changed, then fail naming the cause",
        "  restore app1: drain, switch, restart, verify, traffic back",
        "  failed on app1: " + failure_message(json.dumps({"msg": cause})),
    ]
    (only,) = progress.canary_steps
    assert (only.step, only.percent, only.verdict, only.canary.error_rate) == (1, "10", "fail", 0.3)
    assert only.reason == "canary error rate 0.300 (3/10) > max_error_rate 0.001; increase 0.300 > 0.005"
    assert progress.full_failures[-1] == "app1: " + cause and len(progress.failures[-1]) < len(cause)


def test_inconclusive_step_without_an_open_step_line_still_gets_its_own_line():
    result = json.dumps({"verdict": "inconclusive", "msg": "too few requests",
                         "canary": {"requests": 9, "error_rate": 0.0, "response_time_ms": 2.0},
                         "stable": {"requests": 0}})
    lines, progress = view(["fatal: [app1 -> lb1]: FAILED! => " + result])
    assert lines == ["  canary step 1 (?%): inconclusive; canary 9 requests, error rate 0.000, 2.0 ms; "
                     "stable no requests", "  failed on app1 -> lb1: too few requests"]
    assert progress.canary_steps[0].seconds is None


def test_failure_message_keeps_everything_without_a_limit():
    assert failure_message('{"msg": "%s"}' % ("x" * 500), limit=None) == "x" * 500
