# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The start of a run, judged on the controller from what the hosts and the load balancer said.

Taking the deployment lock reads each host (its releases, its capacity, what a dead run left in
the lock it broke); one read of the load balancer follows. Everything here judges those readings
once, for every host together, and writes the run state the engine starts from.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

__all__ = ["RunStartError", "lock_problems", "lb_state", "unknown_servers", "start"]

# what the lock module adds to a refusal, said instead as the run's own advice
_LOCK_ADVICE = ": wait for that run to finish or, if it died, break the lock with force=true"


class RunStartError(LastmileError):
    """The run cannot start; nothing was changed."""


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _lock_failure(host: str, taken: Mapping[str, Any]) -> str:
    """A module that could not run, or an unreachable host: its first line, rc and last stderr line."""
    said = _first_line(taken.get("msg", ""))
    if said.startswith("Task failed: "):
        said = said[len("Task failed: "):]
    said = said[:-1] if said.endswith(".") else said
    stderr_lines = str(taken.get("module_stderr") or "").strip().splitlines()
    stderr = stderr_lines[-1] if stderr_lines else ""
    text = "%s: %s%s" % (host, "unreachable: " if taken.get("unreachable") else "", said)
    if "rc" in taken:
        text += " (rc %s%s)" % (taken["rc"], ", " + stderr if stderr and stderr != said else "")
    return text


def lock_problems(app: str, results: Mapping[str, Optional[Mapping[str, Any]]], hosts: Sequence[str]) -> Optional[str]:
    """Why the lock was not taken on every host, or None. ``results``: each host's lock result.

    A result with a msg is a lock not taken: with a holder, another run holds it; otherwise the host
    or the module failed, and that is the cause. Hosts without a result took no part in locking.
    """
    failures: List[str] = []
    refusals: List[str] = []
    for host in hosts:
        taken = results.get(host) or {}
        if "msg" not in taken:
            continue
        if "holder" in taken:
            refusals.append("%s: %s" % (host, str(taken["msg"]).replace(_LOCK_ADVICE, "")))
        else:
            failures.append(_lock_failure(host, taken))
    parts = []
    if failures:
        parts.append("The deployment lock of %s was not taken, nothing was changed: %s." % (app, "; ".join(failures)))
    if refusals:
        parts.append("Another run holds the deployment lock of %s%s: %s. Wait for it to finish; if that run is dead, "
                     "run again with -e deploy_lock_break=true."
                     % (app, "" if failures else ", nothing was changed", "; ".join(refusals)))
    return " ".join(parts) or None


def unknown_servers(servers: Mapping[str, Any], names: Mapping[str, str], backend: str) -> List[str]:
    """Each host whose server (``names``: host -> server) is not in the backend's ``servers``."""
    known = ", ".join(sorted(servers))
    return ["%s: server %s is not in HAProxy backend %s (servers there: %s); set deploy_lb_server for this host"
            % (host, json.dumps(name), json.dumps(backend), known)
            for host, name in names.items() if name not in servers]


def _admin_and_weight(server: Optional[Mapping[str, Any]]) -> list:
    server = server or {}
    return [server.get("admin"), server.get("weight")]


def lb_state(now: Mapping[str, Any], inherited: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> Dict[str, Any]:
    """The LB state before the run: what it shows ``now``, over which what a dead run read before it
    changed anything (``inherited``, from each lock it left) takes precedence; and the hosts that run
    left out of rotation (or at another weight) only because it died."""
    dead_run: Dict[str, Any] = {}
    for kept in inherited:
        dead_run.update(kept or {})
    before = dict(now)
    before.update(dead_run)
    left_out = [host for host, name in names.items()
                if dead_run.get(name) and _admin_and_weight(dead_run[name]) != _admin_and_weight(now.get(name))]
    return {"before": before, "now": dict(now), "inherited": dead_run, "left_out": left_out}


def start(app: str, hosts: Sequence[str], locks: Mapping[str, Optional[Mapping[str, Any]]],
          names: Mapping[str, str], lb: Optional[Mapping[str, Any]], backend: str) -> Dict[str, Any]:
    """The LB state the run starts from (see lb_state); raises RunStartError when the lock was not taken
    on every host, the LB could not be read, or it does not know a host's server.

    ``lb`` is the LB reading (``servers``; without them, ``msg`` says why), None without a load balancer.
    """
    problem = lock_problems(app, locks, hosts)
    if problem:
        raise RunStartError(problem)
    if lb is not None and "servers" not in lb:
        raise RunStartError("The load balancer could not be read, nothing was changed: %s" % lb.get("msg", "failed"))
    servers = (lb or {}).get("servers") or {}
    if lb is not None:
        unknown = unknown_servers(servers, names, backend)
        if unknown:
            raise RunStartError("The load balancer does not know every host, nothing was changed: %s" % "; ".join(unknown))
    inherited = [((locks.get(host) or {}).get("inherited") or {}).get("lb_before") or {} for host in hosts]
    return lb_state(servers, inherited, names)
