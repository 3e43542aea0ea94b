# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A compact live view of an ansible-playbook run: one line per role step, one line per batch."""
from __future__ import annotations

import json
import re
import sys
import time
from typing import Dict, List, Optional, Set, TextIO, Tuple

# every role of the collection validates its arguments first; that banner names the step
ROLE_STEP = re.compile(r"^TASK \[lastmile\.deploy\.(?P<role>\w+) : Validating arguments against arg spec "
                       r"'(?P<spec>[^']+)'(?: - (?P<about>.*?))?\] \**$")
ROLE_INCLUDED = re.compile(r"^included: lastmile\.deploy\.(?P<role>\w+) for (?P<hosts>.+?)(?: => .*)?$")
BATCH_ITEM = re.compile(r"\(item=(?P<label>batch \d+/\d+): (?P<hosts>[^)]*)\)")
FAILED = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]]+)\](?: \(item=[^)]*\))?: [A-Z!]+ => (?P<result>.*)$")
# a batch step's short name where "<spec>" alone would not say it
STEP_NAMES = {("traffic", "drain"): "drain", ("traffic", "restore"): "traffic back"}
BATCH_STEP = ("rolling", "batch")
LAST_BATCH_STEP = ("traffic", "restore")


def _hosts(text: str) -> Tuple[str, ...]:
    return tuple(sorted(h.strip() for h in text.split(",") if h.strip()))


def failure_message(result: str, limit: int = 300) -> str:
    """The ``msg`` of a failed task's JSON result (the raw text if it is not JSON), shortened."""
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
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


class Progress:
    """Feed it ansible-playbook's default output line by line (``progress.line``); it prints

        [  3.1s] precheck: Check that a release can be deployed, changing nothing
        [ 12.0s] batch 1/4 app1: drain, switch, restart, verify, traffic back (4.8s)
        [ 20.1s] failed on app2: <the task's msg>
        [ 20.5s] rollback restore: Put back every host a failed run changed, then fail naming the cause
        [ 21.0s] restore app2: drain, switch, restart, verify, traffic back (5.0s)

    A failure inside a block that is rescued is still shown: the reader sees why a rollback
    started. Failures of tasks that ignore errors are not.
    """

    def __init__(self, out: Optional[TextIO] = None, indent: str = "  ") -> None:
        self.out = out or sys.stdout
        self.indent = indent
        self.started = time.monotonic()
        self.batches: Dict[Tuple[str, ...], str] = {}  # hosts -> "batch i/n"
        self._included: Dict[str, Tuple[str, ...]] = {}  # role -> hosts of its latest include
        self._open_batch: Optional[str] = None
        self._open_hosts: Tuple[str, ...] = ()
        self._open_steps = 0
        self._done: Set[str] = set()  # batches that gave their traffic back
        self.restoring = False  # after a failure: the rollback puts hosts back
        self._batch_started = 0.0
        self._pending_failure: Optional[str] = None
        self.failures: List[str] = []

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
            failure, self._pending_failure = self._pending_failure, None
            if text.strip() != "...ignoring":
                self.failures.append(failure)
                self.say("failed on %s" % failure)
        for match in BATCH_ITEM.finditer(text):
            if text.startswith("included:"):
                self.batches[_hosts(match["hosts"])] = match["label"]
        included = ROLE_INCLUDED.match(text)
        if included:
            self._included[included["role"]] = _hosts(included["hosts"])
            return
        step = ROLE_STEP.match(text)
        if step:
            self._step(step["role"], step["spec"], step["about"] or "")
            return
        failed = FAILED.match(text)
        if failed:
            self._pending_failure = "%s: %s" % (failed["host"], failure_message(failed["result"]))
            return
        if text.startswith("PLAY RECAP"):
            self.finish()

    def _step(self, role: str, spec: str, about: str) -> None:
        hosts = self._included.get(role, ())
        name = STEP_NAMES.get((role, spec), role if spec == "main" else spec)
        if role == "rollback":
            self.restoring = True
        if (role, spec) == BATCH_STEP:  # a batch run through the role: the restore after a failure
            self._open("restore" if self.restoring else "batch", hosts, None)
            return
        label = self.batches.get(hosts)
        if self._open_batch is not None and hosts == self._open_hosts:
            self._write("%s%s" % (", " if self._open_steps else " ", name))
            self._open_steps += 1
        elif not self.restoring and label is not None and label not in self._done:
            self._open(label, hosts, name)
        else:
            self.say("%s: %s" % (role if spec == "main" else "%s %s" % (role, spec), about or name))
            return
        if (role, spec) == LAST_BATCH_STEP:
            self._done.add(self._open_batch or "")
            self.close_batch()

    def _open(self, label: str, hosts: Tuple[str, ...], first_step: Optional[str]) -> None:
        self.close_batch()
        self._open_batch, self._open_hosts = label, hosts
        self._open_steps = 1 if first_step else 0
        self._batch_started = time.monotonic()
        self._write("%s %s %s:%s" % (self._stamp(), label, ", ".join(hosts), " " + first_step if first_step else ""))

    def finish(self) -> None:
        """End of the output: flush what is still open."""
        if self._pending_failure is not None:
            self.failures.append(self._pending_failure)
            self.say("failed on %s" % self._pending_failure)
            self._pending_failure = None
        self.close_batch()
