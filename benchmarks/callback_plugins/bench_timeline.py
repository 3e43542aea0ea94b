# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback of benchmarks/run.py: one JSON line per task start and per task result, stamped.

Enabled by the benchmark only (ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_timeline); writes to the file named in $BENCH_TIMELINE.
Besides the status, a result keeps the two figures that show a gate ran: the number of health
samples a verify window sent (``stats.count``) and the length of a CPU capacity sample
(``capacity.cpu_sample_seconds``) and the window a batch was watched on the LB counters (``window_s``, or
``watch.window_s`` where the watch ran inside the traffic back). benchmarks/benchkit/measure.py reads the file.
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timeline
type: aggregate
short_description: Task starts and results with their times, for benchmarks/run.py
description:
  - Writes one JSON line per task start and per task result to the file named in E(BENCH_TIMELINE).
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    """Writes the run's timeline as JSON lines."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get("BENCH_TIMELINE")
        self._out = open(path, "a", encoding="utf-8") if path else None  # pylint: disable=consider-using-with

    def _write(self, event, **fields):
        if self._out is not None:
            self._out.write(json.dumps(dict(event=event, t=time.monotonic(), **fields)) + "\n")

    def _task(self, task, handler):
        self._write("task", name=task.get_name(), action=task.action, uuid=task._uuid, handler=handler)

    def _result(self, result, status):
        data = result._result if isinstance(result._result, dict) else {}
        fields = {}
        # a probe of its own (health_check), or one inside the switch (app_service's verify: health)
        health = data.get("health") if isinstance(data.get("health"), dict) else data
        stats = health.get("stats")
        if isinstance(stats, dict) and isinstance(stats.get("count"), int):
            fields["health_samples"] = stats["count"]
            if isinstance(health.get("seconds"), (int, float)):
                fields["verify_seconds"] = health["seconds"]
        if isinstance(data.get("window_s"), (int, float)):
            fields["watch_seconds"] = data["window_s"]
        # a watch inside the traffic back (haproxy_server's watch, in one item of its loop over the LB hosts): its
        # window only
        items = data.get("results") if isinstance(data.get("results"), list) else [data]
        windows = [item["watch"]["window_s"] for item in items if isinstance(item, dict)
                   and isinstance(item.get("watch"), dict) and isinstance(item["watch"].get("window_s"), (int, float))]
        if windows:
            fields["watch_window_seconds"] = max(windows)
        capacity = data.get("capacity")
        if isinstance(capacity, dict) and isinstance(capacity.get("cpu_sample_seconds"), (int, float)):
            fields["cpu_sample_seconds"] = capacity["cpu_sample_seconds"]
        self._write("result", uuid=result._task._uuid, host=result._host.get_name(), status=status, **fields)

    def v2_playbook_on_start(self, playbook):
        self._write("start")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task, handler=False)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task, handler=True)

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._write("end")
        if self._out is not None:
            self._out.close()
            self._out = None
