# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rollback undoes, said before it changes anything."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import Entry, newest_entry, undone_since
from ansible_collections.lastmile.deploy.plugins.module_utils.run.messages import group_by_message

OUTCOME_WORDS = {"failed": "failed", "rolled_back": "was rolled back"}


def entry_text(entry: Entry) -> str:
    """``3.0 failed at 2026-01-02T03:04:05.000006Z``."""
    when = entry.get("finished_at")
    return "%s %s%s" % (entry["version"], OUTCOME_WORDS.get(entry["status"], entry["status"]), " at %s" % when if when else "")


def describe_undo(states: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> Dict[str, Any]:
    """The statement of a rollback of the hosts in ``order``.

    ``states``: per host, ``current``, ``target`` (the release it goes back to, None if none) and
    ``history``. Returns ``removes`` and ``undone`` (lines naming their hosts), ``current_undone``
    (per host, the text of its current release's entry when that release was already rolled
    back) and ``message``, one sentence of all of them.
    """
    moves: Dict[str, List[str]] = {}
    undone: Dict[str, List[str]] = {}
    current_undone: Dict[str, str] = {}
    for host in order:
        state = states.get(host) or {}
        current: Optional[str] = state.get("current")
        target: Optional[str] = state.get("target")
        history = list(state.get("history") or [])
        moves[host] = ["removes %s, puts back %s" % (current or "no release", target or "nothing")]
        undone[host] = [entry_text(entry) for entry in undone_since(history, current, target)]
        entry = newest_entry(history, current)
        if entry and entry["status"] == "rolled_back":
            current_undone[host] = entry_text(entry)
    removes = group_by_message(moves, order)
    undone_lines = group_by_message(undone, order)
    message = "Rolling back: %s." % "; ".join(removes)
    if undone_lines:
        message += " Deployments already undone since: %s." % "; ".join(undone_lines)
    else:
        message += " No deployment was undone since."
    return {"removes": removes, "undone": undone_lines, "current_undone": current_undone, "message": message}
