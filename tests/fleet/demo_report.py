# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one deployment of the demo did, what it was expected to do, and the summary that tells both."""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from fleet.load import LoadReport
from fleet.progress import CanaryStep

ROLL_OUT, PROMOTE, ROLL_BACK = "roll out", "promote", "roll back"  # what a deployment is expected to do
MAX_FAILED_SHARE = 0.05  # of the requests sent while a bad canary is caught and rolled back
ROLLED_BACK = re.compile(r"failed and was rolled back\. Cause: (?P<cause>.*?)\.? Restored: (?P<restored>.*?)\.?\s*$")
WIDTH = 118

LbView = Dict[str, Tuple[str, int]]  # server: (admin state, weight)


@dataclass
class Deployment:
    """One run of lastmile.deploy.deploy, what it left behind, and what it should have done."""

    version: str
    strategy: str
    settings: str  # how the strategy was asked to run, for the reader
    expect: str  # ROLL_OUT, PROMOTE or ROLL_BACK
    previous: Optional[str] = None  # the version every host served before
    mode: str = "good"
    planned_steps: int = 0  # canary steps asked for
    rc: Optional[int] = None
    duration: float = 0.0
    load: Optional[LoadReport] = None
    served: Dict[str, Optional[str]] = field(default_factory=dict)  # host: version it answers with directly
    current: Dict[str, Optional[str]] = field(default_factory=dict)  # host: where its current link points
    failures: List[str] = field(default_factory=list)  # full messages; the last is the run's own verdict
    canary_steps: List[CanaryStep] = field(default_factory=list)
    lb_before: Optional[LbView] = None
    lb_after: Optional[LbView] = None
    lb_error: str = ""

    @property
    def rollback(self) -> Optional["re.Match[str]"]:
        """Cause and restored parts of the run's rollback message, if it rolled back by itself."""
        if self.rc == 0 or not self.failures:
            return None
        return ROLLED_BACK.search(self.failures[-1])

    @property
    def outcome(self) -> str:
        if self.rc == 0:
            return "promoted to the whole fleet" if self.strategy == "canary" else "rolled out to every host"
        if self.rollback is not None:
            return "rolled back by itself"
        return "FAILED (rc %s) without rolling back" % self.rc

    @property
    def wanted(self) -> Optional[str]:
        """The version every host should serve afterwards."""
        return self.previous if self.expect == ROLL_BACK else self.version

    def problems(self) -> List[str]:
        """Every way this deployment differs from what it was expected to do (empty: as expected)."""
        found: List[str] = []
        verdicts = [s.verdict for s in self.canary_steps]
        if self.expect == ROLL_BACK:
            if self.rc == 0:
                found.append("%s: the play succeeded, expected it to fail and roll back" % self.version)
            elif self.rollback is None:
                found.append("%s: the play failed (rc %s) without saying it rolled back" % (self.version, self.rc))
            if verdicts[:1] != ["fail"]:
                found.append("%s: canary verdicts %s, expected the first step to fail" % (self.version, verdicts))
            if self.lb_error or self.lb_after != self.lb_before:
                found.append("%s: LB weights %s, expected those from before: %s"
                             % (self.version, self.lb_error or describe_lb(self.lb_after), describe_lb(self.lb_before)))
            if self.load is not None and self.load.failed >= MAX_FAILED_SHARE * max(self.load.total, 1):
                found.append("%s: %d of %d requests failed, expected under %.0f%%"
                             % (self.version, self.load.failed, self.load.total, 100 * MAX_FAILED_SHARE))
        else:
            if self.rc != 0:
                found.append("%s: the play failed (rc %s), expected it to succeed" % (self.version, self.rc))
            if self.expect == PROMOTE and verdicts != ["pass"] * self.planned_steps:
                found.append("%s: canary verdicts %s, expected %d passing steps"
                             % (self.version, verdicts, self.planned_steps))
            if self.load is not None and self.load.failed:
                found.append("%s: %d requests failed through the front door, expected none"
                             % (self.version, self.load.failed))
        wrong = ["%s %s" % (h, v or "nothing") for h, v in self.served.items() if v != self.wanted]
        if wrong:
            found.append("%s: %s, expected every host on %s" % (self.version, ", ".join(wrong), self.wanted))
        return found

    def report(self) -> List[str]:
        """The summary lines of this deployment."""
        bad = " of a bad release (%s)" % self.mode if self.mode != "good" else ""
        what = "%s%s, %s" % (self.strategy, bad, self.settings)
        lines = ["%s: %s: %s in %.1fs" % (self.version, what, self.outcome, self.duration)]
        width = max((len(step.label) for step in self.canary_steps), default=0) + 1
        for step in self.canary_steps:
            lines.append("  %-*s %s%s" % (width, step.label + ":", step.describe(),
                                          " (%.1fs)" % step.seconds if step.seconds is not None else ""))
        if self.strategy == "canary" and len(self.canary_steps) < self.planned_steps:
            lines.append("  %d of %d canary steps not taken" % (self.planned_steps - len(self.canary_steps),
                                                                self.planned_steps))
        rollback = self.rollback
        if rollback is not None:
            lines.extend(wrap("cause: %s" % rollback["cause"]))
            lines.extend(wrap("restored: %s" % rollback["restored"]))
        elif self.rc != 0 and self.failures:
            lines.extend(wrap("failed on %s" % self.failures[-1]))
        lines.append("  front door: %s" % describe_load(self.load))
        if self.lb_before is not None:
            same = "as before %s" % self.version if self.lb_after == self.lb_before else "CHANGED from %s" % (
                describe_lb(self.lb_before))
            lines.append("  LB weights after: %s (%s)" % (self.lb_error or describe_lb(self.lb_after), same))
        lines.append("  each host answers (asked directly): %s" % ", ".join(
            "%s %s%s" % (h, v or "nothing", "" if self.current.get(h) == "releases/%s" % v
                         else " (current -> %s)" % (self.current.get(h) or "none"))
            for h, v in self.served.items()))
        return lines


def wrap(text: str, indent: str = "  ") -> List[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False, break_long_words=False)


def describe_lb(view: Optional[LbView]) -> str:
    if view is None:
        return "not read"
    return ", ".join("%s %s/%s" % (name, admin, weight) for name, (admin, weight) in sorted(view.items()))


def describe_load(report: Optional[LoadReport]) -> str:
    """One line: requests served and failed through the front door, and which versions answered."""
    if report is None:
        return "no traffic (first install: nothing served before it)"
    versions = ", ".join("%s %d" % (v, n) for v, n in sorted(report.versions.items()))
    text = "%d requests in %.1fs: %d served, %d failed" % (report.total, report.duration, report.ok, report.failed)
    if report.failed:
        kinds = ", ".join("%s %d" % (k, n) for k, n in report.failures.items() if n)
        text += " (%.1f%%: %s)" % (100.0 * report.failed / max(report.total, 1), kinds)
    return text + ("; answered by %s" % versions if versions else "")


def result_line(deployments: List[Deployment], log_path: str, more_problems: Sequence[str] = ()) -> Tuple[bool, List[str]]:
    """Whether the whole story went as it should, and the lines that say so."""
    found = [p for d in deployments for p in d.problems()] + list(more_problems)
    if found:
        return False, ["Result: FAILED"] + ["  " + p for p in found] + ["  full ansible output: %s" % log_path]
    told = []
    for d in deployments:
        if d.expect == ROLL_BACK and d.load is not None:
            share = 100.0 * d.load.failed / max(d.load.total, 1)
            told.append("%s rolled back by itself (every host back on %s, LB weights as before; %d of %d requests "
                        "failed, %.1f%%)" % (d.version, d.previous, d.load.failed, d.load.total, share))
        elif d.expect == PROMOTE:
            told.append("%s promoted%s" % (d.version, " with no failed request" if d.load is not None else ""))
        else:
            told.append("%s rolled out" % d.version)
    return True, ["Result: OK: %s" % "; ".join(told)]
