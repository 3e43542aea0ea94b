# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A failed canary: the time from the failed verdict until all traffic is back on the stable servers."""
from __future__ import annotations

import argparse
import re
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

from benchkit.ansible_run import lastmile_command
from benchkit.under_load import deploy_under_load
from fleet import Fleet
from fleet.haproxy import HAProxy as FleetHAProxy, admin_name
from fleet.playbook import FAST_GATES, release_vars

BANNER = re.compile(r"^(?P<kind>TASK|RUNNING HANDLER|PLAY|PLAY RECAP)(?: \[(?P<name>.*)\])? \**$")
CANARY_TASK = "Compare the canary with the stable servers"
RESCUE_TASK = "Send all traffic back to the stable servers at once"
SHIFT_TASK = "lastmile.deploy.traffic : Shift traffic in HAProxy"


class WeightPoller:
    """Reads every server's admin state and weight from HAProxy every ``interval`` s in a thread."""

    def __init__(self, haproxy: FleetHAProxy, interval: float = 0.02) -> None:
        self.haproxy = haproxy
        self.interval = interval
        self.samples: List[Tuple[float, Dict[str, Tuple[str, int]]]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weight-poller", daemon=True)

    def __enter__(self) -> "WeightPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def read(self) -> Dict[str, Tuple[str, int]]:
        text = self.haproxy.command("show servers state %s" % self.haproxy.backend, timeout=2)
        lines = [line for line in text.splitlines() if line.strip()]
        header = next(line for line in lines if line.startswith("#"))[1:].split()
        rows = [dict(zip(header, line.split())) for line in lines if not line.startswith("#") and len(line.split()) >= len(header)]
        return {r["srv_name"]: (admin_name(int(r["srv_admin_state"])), int(r["srv_uweight"])) for r in rows}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                state = self.read()
                self.samples.append((time.monotonic(), state))
            except (OSError, StopIteration, ValueError, KeyError):
                self.errors += 1
            self._stop.wait(self.interval)


def bench_canary(fleet: Fleet, env: Dict[str, str], log_path: Path, args: argparse.Namespace, stable_version: str,
                 forks: int) -> dict:
    """A canary of a release answering errors; time from the failed verdict until stable has all traffic."""
    bad = fleet.build_release("v4err", mode="errors")
    extra = {**FAST_GATES, **release_vars(bad), "deploy_strategy": "canary", "deploy_canary_count": 1,
             "deploy_canary_interval": args.canary_interval, "deploy_canary_min_requests": 10}
    canary = [fleet.hosts[0].name]
    stable = [h.name for h in fleet.hosts[1:]]
    marks: Dict[str, float] = {}
    current = {"task": ""}

    def on_line(now: float, line: str) -> None:
        m = BANNER.match(line)
        if m:
            current["task"] = m["name"] or ""
            if RESCUE_TASK in current["task"]:
                marks.setdefault("rescue_banner", now)
            return
        if CANARY_TASK in current["task"] and line.startswith(("[ERROR]", "fatal:", "failed:")):
            marks.setdefault("verdict", now)
        if "rescue_banner" in marks and SHIFT_TASK in current["task"] and line.startswith(("changed:", "ok:", "fatal:")):
            marks.setdefault("rescue_result", now)

    with WeightPoller(fleet.haproxy, args.poll_interval) as poller:
        item = deploy_under_load(fleet, "lastmile canary", lastmile_command(str(fleet.inventory_path), extra), env,
                                 log_path, args.timeout, stable_version, forks, on_line)
        run = item["run"]
    result = {"canary": canary, "stable": stable, "rc": run.rc, "wall_s": round(run.wall, 2),
              "rolled_back": run.rc != 0 and item["result"]["all_hosts_on_target"],
              "failed_requests": item["result"]["failed_requests"], "requests": item["result"]["requests"],
              "poll_interval_s": args.poll_interval, "polls": len(poller.samples), "poll_errors": poller.errors}
    if "verdict" not in marks:
        result["error"] = "no failed canary verdict in the output"
        print("[canary] %s\n%s" % (result["error"], run.tail()), flush=True)
        return result
    verdict = marks["verdict"]

    def serving(state: Dict[str, Tuple[str, int]]) -> bool:
        return any(state[n][0] == "ready" and state[n][1] > 0 for n in canary)

    def back_on_stable(state: Dict[str, Tuple[str, int]]) -> bool:
        return (not serving(state)) and all(state[n][0] == "ready" and state[n][1] > 0 for n in stable)

    last_serving = max((i for i, (t, s) in enumerate(poller.samples) if t <= verdict and serving(s)), default=None)
    back = None
    if last_serving is not None:
        back = next((t for t, s in poller.samples[last_serving + 1:] if back_on_stable(s)), None)
    result.update({
        "verdict_at_s": round(verdict - run.started, 3),
        "verdict_to_stable_s": round(back - verdict, 3) if back is not None else None,
        "verdict_to_rescue_task_start_s": round(marks["rescue_banner"] - verdict, 3) if "rescue_banner" in marks else None,
        "verdict_to_rescue_task_result_s": round(marks["rescue_result"] - verdict, 3) if "rescue_result" in marks else None,
        "verdict_to_end_of_run_s": round(run.started + run.wall - verdict, 2),
    })
    to_stable = result["verdict_to_stable_s"]
    print("[canary] rc=%d; verdict at %.2fs; all traffic on stable %s after it (HAProxy polled every %.0f ms); "
          "run ended %.1fs after it" % (run.rc, result["verdict_at_s"], "never" if to_stable is None else "%.3fs" % to_stable,
                                        args.poll_interval * 1000, result["verdict_to_end_of_run_s"]), flush=True)
    return result
