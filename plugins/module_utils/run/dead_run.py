# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts a dead run switched and never finished deploying, found in each host's release state.

A release is recorded ``succeeded`` only when its run ends, so a current release still ``pending``
was switched by a run that died before it verified the host, unless that switch put an earlier
release back (a restore left pending was reported by the run that made it).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import newest_entry

__all__ = ["unverified", "recovery"]

NO_EARLIER = "no earlier release (kept out of rotation)"


def unverified(state: Optional[Mapping[str, Any]]) -> bool:
    """Whether the release state ``{current, current_status, history}`` shows a dead run's switch."""
    if not state or state.get("current_status") != "pending":
        return False
    entry = newest_entry(list(state.get("history") or []), state.get("current"))
    return not (entry or {}).get("restore", False)


def recovery(states: Mapping[str, Optional[Mapping[str, Any]]], locks: Mapping[str, Optional[Mapping[str, Any]]],
             check_mode: bool = False) -> Dict[str, Any]:
    """What the run's start does about a dead run, from each host's release state (``states``) and lock result.

    ``unverified``: every host a dead run switched; ``hosts``: those of them under this run's lock (no run is
    still switching them) that have a release to go back to; ``message``: what the report says, empty when
    no host is under this run's lock.
    """
    pending = [host for host, state in states.items() if unverified(state)]
    locked = [host for host in pending if "holder" in (locks.get(host) or {})]
    moves: List[str] = []
    for host in locked:
        state = states[host] or {}
        moves.append("%s: %s -> %s" % (host, state.get("current"), state.get("previous") or NO_EARLIER))
    message = ""
    if moves:
        message = "A dead run left hosts on a release it never finished deploying: %s; %s" % (
            ", ".join(moves), "a run would put them back before it changed anything else." if check_mode
            else "put back before this run changed anything else.")
    return {"unverified": pending, "hosts": [host for host in locked if (states[host] or {}).get("previous")],
            "message": message}
