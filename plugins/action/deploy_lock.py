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

from ansible_collections.lastmile.deploy.plugins.module_utils.lock.deployment_lock import BREAK_ADVICE, IDENTITY_KEYS, describe, holder_id

MODULE = "lastmile.deploy.deploy_lock"
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
PID_NAMESPACE_LINK = "/proc/self/ns/pid"


def process_start(pid: int) -> Optional[int]:
    """Start time of a process in clock ticks since boot (Linux), None where /proc cannot tell."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            # the command name in field 2 may hold spaces and parentheses: split after the last ')'
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _first_line(paths) -> Optional[str]:
    for path in paths:
        try:
            with open(path, encoding="ascii", errors="replace") as handle:
                line = handle.readline().strip()
        except OSError:
            continue
        if line:
            return line
    return None


def controller_identity() -> Dict[str, Optional[str]]:
    """What tells this controller from another with the same host name (a container, a CI runner):
    the machine id, the boot id and the PID namespace process ids are counted in; None where
    this system cannot tell."""
    try:
        pid_namespace: Optional[str] = os.readlink(PID_NAMESPACE_LINK)
    except OSError:
        pid_namespace = None
    return {"machine_id": _first_line(MACHINE_ID_FILES), "boot_id": _first_line((BOOT_ID_FILE,)),
            "pid_namespace": pid_namespace}


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
    return {"user": user, "controller": socket.gethostname(), "controller_identity": controller_identity(),
            "pid": pid, "pid_start": process_start(pid)}


def same_controller(holder: Dict[str, Any]) -> bool:
    """True only when the holder recorded this controller's host name and its whole identity: its
    process id then means the same process here."""
    if holder.get("controller") != socket.gethostname():
        return False
    recorded = holder.get("controller_identity")
    here = controller_identity()
    if not isinstance(recorded, dict) or not all(here[key] for key in IDENTITY_KEYS):
        return False
    return all(recorded.get(key) == here[key] for key in IDENTITY_KEYS)


def is_dead_here(holder: Dict[str, Any]) -> bool:
    """True only when the holder ran on this controller and its process is gone or replaced."""
    if not same_controller(holder):
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


def unproven(holder: Dict[str, Any]) -> Optional[str]:
    """Why a holder recorded under this controller's host name cannot be judged from here, if so."""
    if holder.get("controller") != socket.gethostname() or same_controller(holder):
        return None
    return ("it ran on a controller named %s like this one, but %s, so whether it still runs cannot be told from here"
            % (holder.get("controller"), "recorded no machine, boot and PID namespace"
               if not isinstance(holder.get("controller_identity"), dict)
               else "on another machine, boot or PID namespace (a container or CI runner)"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("root", "state", "purpose", "force", "break_holder", "memory", "read_releases",
                             "read_capacity", "record"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args["holder"] = this_run()
        outcome = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        held = outcome.get("holder") if outcome.get("failed") else None
        if held and args.get("state", "present") == "present" and is_dead_here(held):
            # break that run's lock and no other: a run that took it meanwhile is refused by name
            outcome = self._execute_module(module_name=MODULE, module_args=dict(args, break_holder=holder_id(held)),
                                           task_vars=task_vars)
            if not outcome.get("failed"):
                outcome.setdefault("warnings", []).append(
                    "broke the deployment lock of a run that is no longer running: %s" % describe(held))
        elif held and unproven(held):
            outcome["msg"] = "deployment lock %s is held by %s; %s: %s" % (
                outcome.get("path"), describe(held), unproven(held), BREAK_ADVICE)
        result.update(outcome)
        return result
