# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One deployment under the fleet's steady load."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from benchkit.ansible_run import run_ansible
from fleet import Fleet


def deploy_under_load(fleet: Fleet, label: str, command: List[str], env: Dict[str, str], log_path: Path,
                      timeout: float, version: str, forks: int,
                      on_line: Optional[Callable[[float, str], None]] = None) -> dict:
    """Run one deployment under the fleet's steady load; what it cost and what users saw."""
    with fleet.load() as gen:
        time.sleep(1.0)  # traffic flows before the first change
        run = run_ansible(label, command, env, log_path, timeout, on_line)
        time.sleep(0.5)  # and after the last
    load = gen.snapshot()
    served = fleet.versions()
    return {"run": run, "result": {
        "tool": label, "rc": run.rc, "wall_s": round(run.wall, 2),
        "cpu_user_s": round(run.cpu_user, 2), "cpu_sys_s": round(run.cpu_sys, 2),
        "cpu_s": round(run.cpu_user + run.cpu_sys, 2),
        "requests": load.total, "failed_requests": load.failed,
        "failures": {k: v for k, v in load.failures.items() if v}, "failure_samples": load.samples[:3],
        "all_hosts_on_target": set(served.values()) == {version}, "versions_after": served,
        **run.counts([h.name for h in fleet.hosts], forks),
    }}
