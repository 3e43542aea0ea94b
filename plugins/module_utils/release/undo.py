# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rollback undoes, said before it changes anything."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import (
    Entry,
    deployment_index,
    newest_entry,
    undone_since,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.run.messages import group_by_message, hosts_text

OUTCOME_WORDS = {"failed": "failed", "rolled_back": "was rolled back"}


def entry_text(entry: Entry) -> str:
    """``3.0 failed at 2026-01-02T03:04:05.000006Z``."""
    when = entry.get("finished_at")
    return "%s %s%s" % (entry["version"], OUTCOME_WORDS.get(entry["status"], entry["status"]), " at %s" % when if when else "")


def history_text(history: Sequence[Entry], last: int = 5) -> str:
    """``3.0 succeeded, 4.0 failed, 4.1 succeeded``: the ``last`` newest entries, oldest first."""
    shown = ["%s %s" % (entry["version"], entry["status"]) for entry in list(history)[-last:]]
    return ", ".join(shown) or "no history"


def run_to_undo(states: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> Dict[str, Any]:
    """Which run a rollback of the hosts in ``order`` undoes, and which of them it moves.

    ``states`` as for describe_undo. The run is the newest one (by switch time) among the runs that
    put each host's current release in place and still stand (succeeded or pending); the rollback
    moves the hosts that run changed, and those on the same release with the same one before it
    (an earlier run put it there, this one found it done); the others stay. Without run ids in any
    history (entries recorded before runs had ids), every host moves. ``problem`` says why the hosts
    would not end on one release (each host's release, where it ends and its history), else it is
    empty.
    """
    standing: Dict[str, Entry] = {}
    for host in order:
        state = states.get(host) or {}
        history = list(state.get("history") or [])
        index = deployment_index(history, state["current"]) if state.get("current") else None
        if index is not None and history[index].get("run") and history[index]["status"] in ("succeeded", "pending"):
            standing[host] = history[index]
    run: Optional[str] = None
    moved = list(order)
    if standing:
        run = max(standing.values(), key=lambda entry: entry.get("switched_at") or "")["run"]
        by_run = [host for host in order if host in standing and standing[host]["run"] == run]
        # a host on the same release with the same one before it (deployed there by an earlier run, which
        # this run found done) goes back with them: the rollback undoes that release, not half of it
        pairs = {(states[host].get("current"), states[host].get("target")) for host in by_run}
        moved = [host for host in order if host in by_run or (states[host].get("current"), states[host].get("target")) in pairs]
    staying = [host for host in order if host not in moved]
    ends = {host: (states[host].get("target") if host in moved else states[host].get("current")) for host in order}
    problem = ""
    if all(ends[host] for host in moved) and len(set(ends.values())) > 1:
        listing = ["%s: %s %s (history: %s)" % (
            host, states[host].get("current") or "no release",
            "-> %s" % ends[host] if host in moved else "stays",
            history_text(states[host].get("history") or [])) for host in order]
        problem = ("A rollback of %s would leave the hosts on different releases, so nothing was changed. Each host's "
                   "release, where the rollback would take it, and its history: %s. Bring them to one release first, "
                   "for example by deploying it to all of them."
                   % ("run %s" % run if run else "each host's last deployment", "; ".join(listing)))
    return {"run": run, "hosts": moved, "staying": staying, "problem": problem}


def describe_undo(states: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> Dict[str, Any]:
    """The statement of a rollback of the hosts in ``order``: the hosts of the run it undoes (run_to_undo).

    ``states``: per host, ``current``, ``target`` (the release it goes back to, None if none) and
    ``history``. Returns run_to_undo's ``run``, ``hosts``, ``staying`` and ``problem``; ``removes``
    and ``undone`` (lines naming their hosts), ``current_undone`` (per host, the text of its current
    release's entry when that release was already rolled back) and ``message``, one sentence of all
    of them.
    """
    plan = run_to_undo(states, order)
    moves: Dict[str, List[str]] = {}
    undone: Dict[str, List[str]] = {}
    current_undone: Dict[str, str] = {}
    for host in plan["hosts"]:
        state = states.get(host) or {}
        current: Optional[str] = state.get("current")
        target: Optional[str] = state.get("target")
        history = list(state.get("history") or [])
        moves[host] = ["removes %s, puts back %s" % (current or "no release", target or "nothing")]
        undone[host] = [entry_text(entry) for entry in undone_since(history, current, target)]
    for host in order:
        state = states.get(host) or {}
        entry = newest_entry(list(state.get("history") or []), state.get("current"))
        if entry and entry["status"] == "rolled_back":
            current_undone[host] = entry_text(entry)
    removes = group_by_message(moves, plan["hosts"])
    undone_lines = group_by_message(undone, plan["hosts"])
    message = "Rolling back%s: %s." % (" run %s" % plan["run"] if plan["run"] else "", "; ".join(removes))
    if plan["staying"]:
        message += " It did not change %s: %s %s." % (
            hosts_text(plan["staying"]), "they stay on" if len(plan["staying"]) > 1 else "it stays on",
            " and ".join(sorted({str(states[host].get("current") or "no release") for host in plan["staying"]})))
    if undone_lines:
        message += " Deployments already undone since: %s." % "; ".join(undone_lines)
    else:
        message += " No deployment was undone since."
    return dict(plan, removes=removes, undone=undone_lines, current_undone=current_undone, message=message)
