# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of deploy_lock: says who takes the lock and whether a holder is provably dead."""

from __future__ import annotations

import getpass
import multiprocessing
import os
import socket
from typing import Any, Dict, Optional

from ansible.plugins.action import ActionBase

from ansible_collections.lastmile.deploy.plugins.module_utils._lock import describe

MODULE = "lastmile.deploy.deploy_lock"


def process_start(pid: int) -> Optional[int]:
    """Start time of a process in clock ticks since boot (Linux), None where /proc cannot tell."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            # the command name in field 2 may hold spaces and parentheses: split after the last ')'
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def playbook_pid() -> int:
    """The ansible-playbook process: tasks run in worker processes forked from it."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def this_run() -> Dict[str, Any]:
    pid = playbook_pid()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "controller": socket.gethostname(), "pid": pid, "pid_start": process_start(pid)}


def is_dead_here(holder: Dict[str, Any]) -> bool:
    """True only when the holder ran on this controller and its process is gone or replaced."""
    if holder.get("controller") != socket.gethostname():
        return False
    try:
        pid = int(holder.get("pid"))
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    start = process_start(pid)
    return holder.get("pid_start") is not None and start is not None and start != holder.get("pid_start")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("root", "state", "purpose", "force", "memory", "read_releases", "read_capacity", "record"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args["holder"] = this_run()
        outcome = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        held = outcome.get("holder") if outcome.get("failed") else None
        if held and args.get("state", "present") == "present" and is_dead_here(held):
            outcome = self._execute_module(module_name=MODULE, module_args=dict(args, force=True), task_vars=task_vars)
            if not outcome.get("failed"):
                outcome.setdefault("warnings", []).append(
                    "broke the deployment lock of a run that is no longer running: %s" % describe(held))
        result.update(outcome)
        return result
