# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compact progress view of ansible-playbook output (no services needed)."""
from __future__ import annotations

import io
import re

from fleet.progress import Progress, failure_message

BANNER = "TASK [lastmile.deploy.%s : Validating arguments against arg spec '%s' - %s] ***"


def step(role: str, spec: str, hosts: str, about: str = "About it") -> list:
    return ["included: lastmile.deploy.%s for %s" % (role, hosts), "", BANNER % (role, spec, about), "ok: [x]"]


def batch(hosts: str) -> list:
    return (step("traffic", "drain", hosts) + step("release", "switch", hosts) + step("service", "restart", hosts)
            + step("verify", "main", hosts) + step("traffic", "restore", hosts))


def view(lines: list) -> list:
    out = io.StringIO()
    progress = Progress(out)
    for line in lines:
        progress.line(line)
    progress.finish()
    # drop the timings: they depend on the clock
    return [re.sub(r"\[\s*[\d.]+s\] | \([\d.]+s\)", "", line) for line in out.getvalue().splitlines()], progress


ROLLOUT = (
    step("precheck", "main", "app1, app2", "Check that a release can be deployed")
    + ["TASK [lastmile.deploy.rolling : Roll out batch by batch] ***",
       "included: /x/rolling/tasks/batch.yml for app2 => (item=batch 2/2: app2)",
       "included: /x/rolling/tasks/batch.yml for app1 => (item=batch 1/2: app1)"]
    + batch("app1") + batch("app2")
    + step("release", "record", "app1, app2", "Record the outcome")
    + ["PLAY RECAP ***", "app1 : ok=3 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"]
)


def test_rollout_shows_one_line_per_role_step_and_per_batch():
    lines, progress = view(ROLLOUT)
    assert lines == [
        "  precheck: Check that a release can be deployed",
        "  batch 1/2 app1: drain, switch, restart, verify, traffic back",
        "  batch 2/2 app2: drain, switch, restart, verify, traffic back",
        "  release record: Record the outcome",
    ]
    assert progress.failures == []


def test_failed_batch_shows_the_cause_and_the_restore():
    lines, progress = view(
        ROLLOUT[:ROLLOUT.index("included: lastmile.deploy.verify for app1")]
        + ['fatal: [app1]: FAILED! => {"changed": true, "msg": "non-zero return code", '
           '"stdout_lines": ["sample: ERROR (not running)", "sample: ERROR (spawn error)"]}',
           "TASK [lastmile.deploy.rolling : Remember why the batch failed] ***"]
        + step("rollback", "restore", "app1, app2", "Put back every host")
        + ["included: lastmile.deploy.rolling for app1 => (item=app1)",
           BANNER % ("rolling", "batch", "Move one batch")]
        + batch("app1")
        + ['fatal: [app1]: FAILED! => {"changed": false, "msg": "The deployment failed and was rolled back."}'])
    assert lines == [
        "  precheck: Check that a release can be deployed",
        "  batch 1/2 app1: drain, switch, restart",
        "  failed on app1: non-zero return code (sample: ERROR (spawn error))",
        "  rollback restore: Put back every host",
        "  restore app1: drain, switch, restart, verify, traffic back",
        "  failed on app1: The deployment failed and was rolled back.",
    ]
    assert len(progress.failures) == 2


def test_ignored_failure_is_not_reported():
    ignored = ['fatal: [app1]: FAILED! => {"msg": "nope"}', "...ignoring"]
    lines, progress = view(step("precheck", "main", "app1") + ignored)
    assert not any("nope" in line for line in lines) and progress.failures == []


def test_failure_message_reads_msg_or_keeps_raw_text_and_shortens():
    assert failure_message('{"msg": "boom\\n  twice"}') == "boom twice"
    assert failure_message("not json at all") == "not json at all"
    assert len(failure_message('{"msg": "%s"}' % ("x" * 500), limit=50)) == 50
