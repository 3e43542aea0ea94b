# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The start of a run, judged on the controller from what the hosts and the load balancer said.

Taking the deployment lock reads each host (its releases, its capacity, what a dead run left in
the lock it broke); one read of each load-balancer host follows. Everything here judges those readings
once, for every host together, and writes the run state the engine starts from.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

__all__ = ["RunStartError", "combined_servers", "lock_problems", "lb_state", "new_run_id", "unknown_servers", "start"]

# what the lock module adds to a refusal, said instead as the run's own advice
_LOCK_ADVICE = ": wait for that run to finish or, if it died, break the lock with force=true"


class RunStartError(LastmileError):
    """The run cannot start; nothing was changed."""


def new_run_id() -> str:
    """``<UTC time>-<6 random hex digits>``: sorts by start time, and two runs in one second differ."""
    return "%s-%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), secrets.token_hex(3))


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


def unknown_servers(servers: Mapping[str, Any], names: Mapping[str, str], backend: str, lb: str = "") -> List[str]:
    """Each host whose server (``names``: host -> server) is not in the backend's ``servers`` (on LB host ``lb``)."""
    known = ", ".join(sorted(servers))
    where = " on %s" % lb if lb else ""
    return ["%s: server %s is not in HAProxy backend %s%s (servers there: %s); set deploy_lb_server for this host"
            % (host, json.dumps(name), json.dumps(backend), where, known)
            for host, name in names.items() if name not in servers]


def _admin_and_weight(server: Optional[Mapping[str, Any]]) -> list:
    server = server or {}
    return [server.get("admin"), server.get("weight")]


def _shown(server: Optional[Mapping[str, Any]]) -> str:
    return "%s/%s" % tuple(_admin_and_weight(server)) if server else "absent"


def lb_state(now: Mapping[str, Any], inherited: Sequence[Mapping[str, Any]], names: Mapping[str, str],
             each_lb: Optional[Sequence[Mapping[str, Any]]] = None) -> Dict[str, Any]:
    """The LB state before the run: what it shows ``now``, over which what a dead run read before it
    changed anything (``inherited``, from each lock it left) takes precedence; and the hosts that run
    left out of rotation (or at another weight) only because it died, on any of the LB hosts
    (``each_lb``: each one's servers; default ``now`` alone)."""
    dead_run: Dict[str, Any] = {}
    for kept in inherited:
        dead_run.update(kept or {})
    before = dict(now)
    before.update(dead_run)
    readings = list(each_lb) if each_lb is not None else [now]
    left_out = [host for host, name in names.items()
                if dead_run.get(name) and any(_admin_and_weight(dead_run[name]) != _admin_and_weight(servers.get(name))
                                              for servers in readings)]
    return {"before": before, "now": dict(now), "inherited": dead_run, "left_out": left_out}


def combined_servers(readings: Mapping[str, Mapping[str, Any]], settled: Sequence[str] = ()) -> Dict[str, Any]:
    """One view of the servers of several LB hosts (``readings``: LB host -> servers), which the run restores on
    each of them: admin state and weight must agree, except for ``settled`` servers (what a dead run read before
    it changed them is restored instead); a server is up only where every LB host sees it up."""
    combined: Dict[str, Dict[str, Any]] = {}
    seen: Dict[str, Dict[str, Any]] = {}
    disagreements = []
    for lb, servers in readings.items():
        for name, server in servers.items():
            if name not in combined:
                combined[name], seen[name] = dict(server), {lb: server}
                continue
            first_lb, first = next(iter(seen[name].items()))
            if name not in settled and _admin_and_weight(server) != _admin_and_weight(first):
                disagreements.append("server %s is %s on %s but %s on %s"
                                     % (json.dumps(name), _shown(first), first_lb, _shown(server), lb))
            seen[name][lb] = server
            combined[name]["up"] = bool(combined[name].get("up")) and bool(server.get("up"))
    if disagreements:
        raise RunStartError("The load balancers disagree, nothing was changed: %s (admin state/weight). A run gives "
                            "each LB host back the same state; make them agree first." % "; ".join(disagreements))
    return combined


def _readings(lb: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    """LB host -> its reading, from one registered reading or from a loop over the LB hosts (``results``, each
    naming its LB host under its loop variable)."""
    if "results" in lb:
        return {str(item.get(item.get("ansible_loop_var") or "item", index)): item
                for index, item in enumerate(lb["results"] or [])}
    return {"": lb}


def start(app: str, hosts: Sequence[str], locks: Mapping[str, Optional[Mapping[str, Any]]],
          names: Mapping[str, str], lb: Optional[Mapping[str, Any]], backend: str) -> Dict[str, Any]:
    """The LB state the run starts from (see lb_state); raises RunStartError when the lock was not taken
    on every host, an LB host could not be read, does not know a host's server, or the LB hosts disagree.

    ``lb`` is the LB reading (``servers``; without them, ``msg`` says why), or the result of a loop reading
    each LB host (``results``, each with its ``item``); None without a load balancer.
    """
    problem = lock_problems(app, locks, hosts)
    if problem:
        raise RunStartError(problem)
    inherited = [((locks.get(host) or {}).get("inherited") or {}).get("lb_before") or {} for host in hosts]
    if lb is None:
        return lb_state({}, inherited, names)
    readings = _readings(lb)
    if not readings:
        raise RunStartError("No load balancer host was read, nothing was changed: set deploy_lb_hosts to the LB "
                            "hosts, or deploy_lb_provider=none")
    unreadable = ["%s%s" % (lb_host + ": " if lb_host else "", _first_line(reading.get("msg", "failed")) or "failed")
                  for lb_host, reading in readings.items() if "servers" not in reading]
    if unreadable:
        raise RunStartError("The load balancer could not be read, nothing was changed: %s" % "; ".join(unreadable))
    unknown = [problem for lb_host, reading in readings.items()
               for problem in unknown_servers(reading["servers"] or {}, names, backend, lb_host if len(readings) > 1 else "")]
    if unknown:
        raise RunStartError("The load balancer does not know every host, nothing was changed: %s" % "; ".join(unknown))
    each_lb = {lb_host: reading["servers"] or {} for lb_host, reading in readings.items()}
    settled = [name for kept in inherited for name in (kept or {})]
    return lb_state(combined_servers(each_lb, settled), inherited, names, list(each_lb.values()))
