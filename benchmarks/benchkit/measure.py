# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one ansible-playbook run cost, read from its output and its timeline (standard library only).

- task steps: the task banners the default callback prints, one per task the play goes through
  one after another (``TASK [`` and ``RUNNING HANDLER [`` lines);
- task results: one per host and task run, from the PLAY RECAP. In ansible-core's recap every result
  is exactly one of ok, failed, rescued, skipped or unreachable (``dark``); ``changed`` and
  ``ignored`` are results already counted in ``ok``, so they are not added again;
- per-task times and the gates' share, from the timeline written by
  benchmarks/callback_plugins/bench_timeline.py.
"""
from __future__ import annotations

import json
import math
import re
from typing import Dict, Iterable, List, Optional, Sequence

BANNER_PREFIXES = ("TASK [", "RUNNING HANDLER [")
RECAP_FIELDS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+" + r"\s+".join(r"%s=(?P<%s>\d+)" % (f, f) for f in RECAP_FIELDS) + r"\s*$")
# each result lands in exactly one of these (ansible/plugins/strategy/__init__.py)
RESULT_FIELDS = ("ok", "failed", "rescued", "skipped", "unreachable")


def count_task_banners(lines: Iterable[str]) -> int:
    """The task steps of a run: banner lines of tasks and handlers in the default callback's output."""
    return sum(1 for line in lines if line.startswith(BANNER_PREFIXES))


def parse_recap(lines: Iterable[str]) -> Dict[str, Dict[str, int]]:
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the lines after ``PLAY RECAP``."""
    recap: Dict[str, Dict[str, int]] = {}
    in_recap = False
    for line in lines:
        if line.startswith("PLAY RECAP "):
            in_recap = True
            continue
        match = RECAP_LINE.match(line) if in_recap else None
        if match:
            recap[match["host"]] = {f: int(match[f]) for f in RECAP_FIELDS}
    return recap


def task_results(counts: Dict[str, int]) -> int:
    """Task results of one recap row: each result is counted once."""
    return sum(counts[f] for f in RESULT_FIELDS)


def results_per_host(recap: Dict[str, Dict[str, int]], app_hosts: Sequence[str]) -> dict:
    """Task results summed over the application hosts and divided by their number; the other rows
    (load balancer, localhost) apart, since their results are once per run or per batch."""
    missing = [h for h in app_hosts if h not in recap]
    if missing:
        raise ValueError("PLAY RECAP has no row for the application hosts %s" % ", ".join(missing))
    app_total = sum(task_results(recap[h]) for h in app_hosts)
    return {
        "app_hosts": len(app_hosts),
        "app_task_results": app_total,
        "task_results_per_host": round(app_total / len(app_hosts), 1) if app_hosts else 0.0,
        "other_hosts_task_results": {h: task_results(c) for h, c in sorted(recap.items()) if h not in app_hosts},
        "changed": sum(c["changed"] for c in recap.values()),
        "failed": sum(c["failed"] + c["unreachable"] for c in recap.values()),
    }


def read_timeline(text: str) -> List[dict]:
    """The events of a bench_timeline file, in order."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def task_spans(events: Sequence[dict]) -> List[dict]:
    """One span per task start: its name and action, seconds until the next task starts (or the run
    ends), its results by status, and the gate figures its results reported."""
    spans: List[dict] = []
    by_uuid: Dict[str, dict] = {}
    end: Optional[float] = None
    for event in events:
        kind = event["event"]
        if kind == "task":
            if spans:
                spans[-1]["end"] = event["t"]
            span = {"name": event["name"], "action": event["action"], "handler": event.get("handler", False),
                    "start": event["t"], "end": None, "results": {}, "health_samples": [], "cpu_sample_seconds": [],
                    "watch_seconds": [], "verify_seconds": [], "watch_window_seconds": []}
            spans.append(span)
            by_uuid[event["uuid"]] = span  # a task run again (another batch) reports into its latest span
        elif kind == "result":
            span = by_uuid.get(event["uuid"])
            if span is None:
                continue
            span["results"][event["status"]] = span["results"].get(event["status"], 0) + 1
            if "health_samples" in event:
                span["health_samples"].append(event["health_samples"])
            if "cpu_sample_seconds" in event:
                span["cpu_sample_seconds"].append(event["cpu_sample_seconds"])
            if "watch_seconds" in event:
                span["watch_seconds"].append(event["watch_seconds"])
            if "verify_seconds" in event:
                span["verify_seconds"].append(event["verify_seconds"])
            if "watch_window_seconds" in event:
                span["watch_window_seconds"].append(event["watch_window_seconds"])
            span["last_result"] = event["t"]
        elif kind == "end":
            end = event["t"]
    if spans and spans[-1]["end"] is None:
        spans[-1]["end"] = end if end is not None else spans[-1].get("last_result", spans[-1]["start"])
    for span in spans:
        span["seconds"] = round(span["end"] - span["start"], 3)
    return spans


def top_tasks(spans: Sequence[dict], limit: int = 12) -> List[dict]:
    """Seconds per task name summed over its runs, largest first: where the wall time goes."""
    rows: Dict[str, dict] = {}
    for span in spans:
        row = rows.setdefault(span["name"], {"task": span["name"], "seconds": 0.0, "runs": 0})
        row["seconds"] += span["seconds"]
        row["runs"] += 1
    ordered = sorted(rows.values(), key=lambda r: -r["seconds"])[:limit]
    return [dict(r, seconds=round(r["seconds"], 2)) for r in ordered]


def gate_costs(spans: Sequence[dict], forks: int) -> dict:
    """What the safety gates cost in this run.

    verify: the tasks whose results carry health samples (a verify window after each batch); their
    seconds, banner to banner, include the wait for the first healthy answer and the samples. Where the
    probe ran inside the switch (app_service's verify), the task also switched and restarted: the probe's
    own seconds count instead, the longest of the batch's hosts (they probe at once).
    capacity sample: the tasks whose results report a CPU sample; every host samples at once, in
    waves of ``forks`` hosts, so the sample adds its length once per wave to that task's time.
    watch: the tasks whose results report a window on the LB counters (each batch watched once it takes traffic
    again); their seconds, banner to banner. Where the watch ran inside the traffic back (haproxy_server's watch),
    the task also gave the servers back: the window's own length counts instead, the longest of the batch's hosts.
    """
    watch = [s for s in spans if s.get("watch_seconds") or s.get("watch_window_seconds")]
    watch_s = sum(max(s["watch_window_seconds"]) if s.get("watch_window_seconds") else s["seconds"] for s in watch)
    verify = [s for s in spans if s["health_samples"]]
    capacity = [s for s in spans if s["cpu_sample_seconds"]]
    sample_s = 0.0
    for span in capacity:
        waves = math.ceil(len(span["cpu_sample_seconds"]) / max(forks, 1))
        sample_s += max(span["cpu_sample_seconds"]) * waves
    verify_s = sum(max(s["verify_seconds"]) if s.get("verify_seconds") else s["seconds"] for s in verify)
    return {
        "verify_tasks": len(verify),
        "verify_s": round(verify_s, 2),
        "health_samples_per_host": max((max(s["health_samples"]) for s in verify), default=0),
        "capacity_tasks": len(capacity),
        "capacity_task_s": round(sum(s["seconds"] for s in capacity), 2),
        "capacity_sample_s": round(sample_s, 2),
        "watch_tasks": len(watch),
        "watch_s": round(watch_s, 2),
        "gates_s": round(verify_s + sample_s + watch_s, 2),
    }
