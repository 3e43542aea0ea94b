# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A compact live view of an ansible-playbook run: one line per role step, per batch and per canary step."""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, TextIO, Tuple

TASK_BANNER = re.compile(r"^TASK \[(?:lastmile\.deploy\.(?P<role>\w+) : )?(?P<name>.*?)\] \**$")
BATCH_ITEM = re.compile(r"\(item=(?P<label>batch \d+/\d+): (?P<hosts>[^)]*)\)")
# a batch moved through the rolling role in a loop (canary promotion, restore after a failure)
ROLLING_ITEM = re.compile(r"^included: lastmile\.deploy\.rolling for .+? => \(item=(?P<hosts>[^)]*)\)$")
# the hosts of a batch start its step
STEP_INCLUDED = re.compile(r"^included: \S*/rolling/tasks/step\.yml for (?P<hosts>.+?)(?: => .*)?$")
CANARY_ITEM = re.compile(r"\(item=step (?P<step>\d+)/(?P<steps>\d+): (?P<percent>[\d.]+)%\)")
CANARY_VERDICT = re.compile(
    r'^\s*"msg": "canary step (?P<step>\d+) \((?P<percent>[\d.]+)%\): (?P<verdict>\w+); '
    r"canary (?P<canary_requests>\d*) requests, error rate (?P<canary_error_rate>[^,]*), "
    r"(?P<canary_ms>[^;]*?)\s*ms; "
    r"stable (?P<stable_requests>\d*) requests, error rate (?P<stable_error_rate>[^,]*), "
    r'(?P<stable_ms>[^";]*?)\s*ms(?:; checks: (?P<checks>[^"]*))?"')
# a host ran the task (or failed it): "ok: [app1]", "changed: [app1 -> lb1]", "fatal: [app1]: ..."
TASK_RAN = re.compile(r"^(?:ok|changed|fatal|failed): \[")
FAILED = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]]+)\](?: \(item=[^)]*\))?: [A-Z!]+ => (?P<result>.*)$")
# (role, start of the task name) -> the word a batch line shows for that step
STEP_WORDS = (
    ("traffic", "Drain the batch", "drain"),
    ("service", "Switch current and restart the service, then verify", "switch, restart, verify"),
    ("service", "Switch current and restart", "switch, restart"),
    ("release", "Point current at the release", "switch"),
    ("service", "Restart the service", "restart"),
    ("service", "Stop the service", "stop"),
    ("service", "Start the service", "start"),
    ("verify", "Verify the health", "verify"),
    ("traffic", "Give the batch back its HAProxy state", "traffic back"),
)
LAST_BATCH_STEP = "traffic back"
BATCH_START = ("rolling", "Look for a failure before the batch")
CANARY_SHIFT = ("traffic", "Shift traffic in HAProxy")
# (role, start of the task name) -> a line of its own: the phases of a run
PHASES = (
    ("lock", "Take the deployment lock", "lock: take the deployment lock on every host"),
    ("precheck", "Verify the artifact checksum", "precheck: check that the release can be deployed, changing nothing"),
    ("release", "Send the verified artifact", "stage: send the release to every host that needs it and unpack it"),
    ("canary", "Choose the canary hosts", "canary: choose the canary hosts and plan the traffic steps"),
    ("blue_green", "Choose the colour", "blue-green: choose the colour that gets the release"),
    ("recreate", "Plan a single step", "recreate: the whole fleet in one step"),
    ("rolling", "Plan the batches", "rolling: plan the batches"),
    ("rollback", "Plan the restore", "rollback: put back every host the run changed, then fail naming the cause"),
    ("lock", "Give back the deployment lock", "lock: give the deployment lock back"),
)


def _hosts(text: str) -> Tuple[str, ...]:
    return tuple(sorted(h.strip() for h in text.split(",") if h.strip()))


def _number(value: object) -> Optional[float]:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def failure_message(result: str, limit: Optional[int] = 300) -> str:
    """The ``msg`` of a failed task's JSON result (the raw text if it is not JSON), shortened to ``limit``."""
    try:
        data = json.loads(result)
    except ValueError:
        data = None
    msg = result
    if isinstance(data, dict):
        msg = str(data.get("msg", result))
        output = data.get("stderr_lines") or data.get("stdout_lines")
        if isinstance(output, list) and output:
            msg += " (%s)" % output[-1]
    msg = " ".join(msg.split())
    return msg if limit is None or len(msg) <= limit else msg[:limit - 3] + "..."


@dataclass
class GroupFigures:
    """What the canary analysis measured for one group of servers (canary or stable) in a step."""

    requests: Optional[int]
    error_rate: Optional[float]
    response_ms: Optional[float]

    @classmethod
    def from_result(cls, figures: object) -> "GroupFigures":
        """From the ``canary`` / ``stable`` dict of a canary_analysis result."""
        data = figures if isinstance(figures, dict) else {}
        requests = _number(data.get("requests"))
        return cls(None if requests is None else int(requests), _number(data.get("error_rate")),
                   _number(data.get("response_time_ms")))

    def describe(self) -> str:
        if not self.requests:
            return "no requests"
        rate = "?" if self.error_rate is None else "%.3f" % self.error_rate
        latency = "? ms" if self.response_ms is None else "%.1f ms" % self.response_ms
        return "%d requests, error rate %s, %s" % (self.requests, rate, latency)


@dataclass
class CanaryStep:
    """The verdict of one canary step and the figures behind it."""

    step: int
    steps: int  # planned steps, 0 when the plan was not seen
    percent: str
    verdict: str  # pass, fail or inconclusive
    canary: GroupFigures
    stable: GroupFigures
    seconds: Optional[float] = None  # from the traffic shift to the verdict
    reason: str = ""  # why a step did not pass, as the analysis said it

    @property
    def label(self) -> str:
        return "canary step %d%s (%s%%)" % (self.step, "/%d" % self.steps if self.steps else "", self.percent)

    def describe(self) -> str:
        return "%s; canary %s; stable %s" % (self.verdict, self.canary.describe(), self.stable.describe())


class Progress:
    """Feed it ansible-playbook's default output line by line (``progress.line``); it prints

        [  3.1s] precheck: check that the release can be deployed, changing nothing
        [ 12.0s] batch 1/4 app1: drain, switch, restart, verify, traffic back (4.8s)
        [ 15.0s] canary app1: drain, switch, restart, verify (5.1s)
        [ 19.2s] canary step 1/3 (10%): pass; canary 12 requests, error rate 0.000, 2.0 ms; stable ... (4.1s)
        [ 20.1s] failed on app2: <the task's msg>
        [ 20.5s] rollback: put back every host the run changed, then fail naming the cause
        [ 21.0s] restore app2: drain, switch, restart, verify, traffic back (5.0s)

    Phases and steps are told by the task names of the collection's roles (PHASES, STEP_WORDS).
    A failure inside a block that is rescued is still shown: the reader sees why a rollback
    started. Failures of tasks that ignore errors are not. ``canary_steps`` holds every verdict.
    """

    def __init__(self, out: Optional[TextIO] = None, indent: str = "  ") -> None:
        self.out = out or sys.stdout
        self.indent = indent
        self.started = time.monotonic()
        self.batches: Dict[Tuple[str, ...], str] = {}  # hosts -> "batch i/n"
        self.strategy: Optional[str] = None  # set by the phase line of canary, blue-green or recreate
        self._task: Optional[Tuple[str, str]] = None  # (role, name) of the latest task until a host ran it
        self._open_batch: Optional[str] = None  # label of the line still open
        self._open_hosts: Optional[Tuple[str, ...]] = ()  # None: a canary step line, no role step joins it
        self._open_steps = 0
        self._done: Set[str] = set()  # batches that gave their traffic back
        self.restoring = False  # after a failure: the rollback puts hosts back
        self._batch_started = 0.0
        self._pending_failure: Optional[Tuple[str, str]] = None  # (shortened, full)
        self.failures: List[str] = []
        self.full_failures: List[str] = []  # the same messages, not shortened
        # batches run through the rolling role in a loop: their hosts, in order, and the group's size
        self._batch_items: List[Tuple[str, ...]] = []
        self._batch_index = 0
        self._batch_count = 0
        self._pending_batch: Optional[Tuple[str, Optional[Tuple[str, ...]]]] = None  # (label, hosts)
        self.canary = False  # the canary strategy runs
        self.canary_plan: Dict[int, str] = {}  # step -> percent
        self.canary_steps: List[CanaryStep] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _stamp(self) -> str:
        return "%s[%5.1fs]" % (self.indent, self.elapsed())

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def say(self, text: str) -> None:
        """A line of its own (closes an open batch line first)."""
        self.close_batch()
        self._write("%s %s\n" % (self._stamp(), text))

    def close_batch(self) -> None:
        if self._open_batch is not None:
            self._write(" (%.1fs)\n" % (time.monotonic() - self._batch_started))
            self._open_batch, self._open_hosts = None, ()

    def line(self, text: str) -> None:
        """Take one output line of ansible-playbook."""
        if self._pending_failure is not None:
            (short, full), self._pending_failure = self._pending_failure, None
            if text.strip() != "...ignoring":
                self.failures.append(short)
                self.full_failures.append(full)
                self.say("failed on %s" % short)
        for match in BATCH_ITEM.finditer(text):
            if text.startswith("included:"):
                self.batches[_hosts(match["hosts"])] = match["label"]
        for match in CANARY_ITEM.finditer(text):
            self.canary_plan[int(match["step"])] = match["percent"]
        item = ROLLING_ITEM.match(text)
        if item:
            self._batch_item(_hosts(item["hosts"]))
        included = STEP_INCLUDED.match(text)
        if included:
            self._step_included(_hosts(included["hosts"]))
            return
        banner = TASK_BANNER.match(text)
        if banner:
            # told once a host ran it: a task every host skipped is no step
            self._task = (banner["role"] or "", banner["name"])
            return
        if self._task is not None and TASK_RAN.match(text):
            (role, name), self._task = self._task, None
            self._task_ran(role, name)
        verdict = CANARY_VERDICT.match(text)
        if verdict:
            self._verdict(CanaryStep(
                int(verdict["step"]), len(self.canary_plan), verdict["percent"], verdict["verdict"],
                GroupFigures(int(verdict["canary_requests"] or 0), _number(verdict["canary_error_rate"]),
                             _number(verdict["canary_ms"])),
                GroupFigures(int(verdict["stable_requests"] or 0), _number(verdict["stable_error_rate"]),
                             _number(verdict["stable_ms"]))))
            return
        failed = FAILED.match(text)
        if failed:
            self._failed(failed["host"], failed["result"])
            return
        if text.startswith("PLAY RECAP"):
            self.finish()

    def _failed(self, host: str, result: str) -> None:
        try:
            data = json.loads(result)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("verdict") in ("pass", "fail", "inconclusive"):
            # the analysis failed on its verdict: the figures come with the failure
            step = len(self.canary_steps) + 1
            reasons = data.get("reasons")
            self._verdict(CanaryStep(
                step, len(self.canary_plan), self.canary_plan.get(step, "?"), str(data["verdict"]),
                GroupFigures.from_result(data.get("canary")), GroupFigures.from_result(data.get("stable")),
                reason="; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(data.get("msg", ""))))
        self._pending_failure = ("%s: %s" % (host, failure_message(result)),
                                 "%s: %s" % (host, failure_message(result, limit=None)))

    def _verdict(self, verdict: CanaryStep) -> None:
        if self._open_hosts is None:  # the step's line, opened when its traffic shifted
            verdict.seconds = time.monotonic() - self._batch_started
            self._write(" %s" % verdict.describe())
            self.close_batch()
        else:
            self.say("%s: %s" % (verdict.label, verdict.describe()))
        self.canary_steps.append(verdict)

    def _batch_item(self, hosts: Tuple[str, ...]) -> None:
        if not self._batch_items and self._batch_index >= self._batch_count:  # a new loop of batches
            self._batch_index = self._batch_count = 0
        self._batch_items.append(hosts)
        self._batch_count += 1

    def _canary_shift(self) -> bool:
        """Show a traffic shift of the canary strategy: a step's (its line waits for the verdict), the
        rescue's or the promotion's. False when the shift is none of these."""
        if not self.canary or self.restoring:
            return False
        passed = all(s.verdict == "pass" for s in self.canary_steps)
        if passed and len(self.canary_steps) < len(self.canary_plan):
            step = len(self.canary_steps) + 1
            self._open("canary step %d/%d (%s%%):" % (step, len(self.canary_plan), self.canary_plan.get(step, "?")),
                       None, None)
            return True
        if not self.canary_steps:
            return False
        self.say("traffic shift: %s" % ("every server back to its weight from before the run (canary promoted)"
                                        if passed else "all traffic back to the stable servers"))
        return True

    def _task_ran(self, role: str, name: str) -> None:
        """A task ran on a host: a phase of the run, the start of a batch, or a step of the open batch."""
        if (role, name) == BATCH_START:  # a batch; its line opens when its hosts include the step
            self.close_batch()
            self._pending_batch = self._batch_label()
            return
        if role == CANARY_SHIFT[0] and name.startswith(CANARY_SHIFT[1]):
            if not self._canary_shift() and self._open_batch is None:
                self.say("traffic shift")
            return
        for phase_role, start, text in PHASES:
            if role == phase_role and name.startswith(start):
                self._phase(role, text)
                return
        if self._open_batch is None or self._open_hosts is None:
            return
        for step_role, start, word in STEP_WORDS:
            if role == step_role and name.startswith(start):
                self._write("%s%s" % (", " if self._open_steps else " ", word))
                self._open_steps += 1
                if word == LAST_BATCH_STEP:
                    self._done.add(self._open_batch)
                    self.close_batch()
                return

    def _phase(self, role: str, text: str) -> None:
        if role == "rollback":
            self.restoring = True
        if role == "canary":
            self.canary = True
        if role in ("canary", "blue_green", "recreate"):
            self.strategy = role
        elif role == "rolling" and self.strategy is not None:
            return  # the rolling role's own steps inside another strategy
        self.say(text)

    def _step_included(self, hosts: Tuple[str, ...]) -> None:
        """The hosts of a batch start its step: open the batch's line."""
        pending, self._pending_batch = self._pending_batch, None
        label = self.batches.get(hosts)
        if self.restoring:
            label = "restore"
        elif pending is not None and pending[1] == hosts:
            label = pending[0]
        elif label is None or label in self._done:
            label = pending[0] if pending is not None else "batch"
        self._open(label, hosts, None)

    def _batch_label(self) -> Tuple[str, Optional[Tuple[str, ...]]]:
        """Label and hosts (None: the hosts of its first step) of a batch run through the rolling role."""
        hosts = self._batch_items.pop(0) if self._batch_items else None
        if hosts is not None:
            self._batch_index += 1
        if self.restoring:
            return "restore", hosts
        if hosts is None:
            return ("canary" if self.canary else "batch"), None
        return "batch %d/%d" % (self._batch_index, self._batch_count), hosts

    def _open(self, label: str, hosts: Optional[Tuple[str, ...]], first_step: Optional[str]) -> None:
        self.close_batch()
        self._open_batch, self._open_hosts = label, hosts
        self._open_steps = 1 if first_step else 0
        self._batch_started = time.monotonic()
        self._write("%s %s%s%s" % (self._stamp(), label, " %s:" % ", ".join(hosts) if hosts else "",
                                   " " + first_step if first_step else ""))

    def finish(self) -> None:
        """End of the output: flush what is still open."""
        if self._pending_failure is not None:
            (short, full), self._pending_failure = self._pending_failure, None
            self.failures.append(short)
            self.full_failures.append(full)
            self.say("failed on %s" % short)
        self.close_batch()
