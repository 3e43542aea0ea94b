# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load-balancer provider interface: the application servers of one load balancer, as a run changes them.

A provider (HAProxy: haproxy/pool.py) implements the primitives: read the servers, apply or preview
admin-state and weight changes in one round trip, wait until servers are drained or up, read their
counters. The steps a run takes (drain, shift weights, restore) are built on them here, the same for
every provider. Servers are dicts of ``Server``-like objects with at least ``admin`` (ready, drain or
maint), ``weight``, ``up``, ``healthy`` and ``down``.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["STATUS_CLASSES", "Change", "Counters", "Pool", "changes_to_restore"]

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")

# {server: {"admin": ready|drain|maint, "weight": int}}; either key may be missing
Change = Dict[str, Dict[str, Any]]


@dataclasses.dataclass
class Counters:
    """One server's cumulative counters at one instant, as its load balancer keeps them; the response time is the
    load balancer's recent average."""

    requests: int = 0
    responses_1xx: int = 0
    responses_2xx: int = 0
    responses_3xx: int = 0
    responses_4xx: int = 0
    responses_5xx: int = 0
    responses_other: int = 0
    connection_errors: int = 0
    response_errors: int = 0
    response_time_ms: int = 0

    @property
    def responses(self) -> int:
        return sum(getattr(self, "responses_" + name) for name in STATUS_CLASSES)


def changes_to_restore(before: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> Change:
    """The change that gives ``names`` back the admin state and weight read before the run."""
    return {name: {"admin": before[name]["admin"], "weight": int(before[name]["weight"])} for name in names}


class Pool(abc.ABC):
    """The servers of one application in one load balancer (HAProxy: a backend)."""

    provider = ""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def snapshot(self) -> Dict[str, Any]:
        """{server: Server} as the load balancer shows them now, read in one round trip."""

    @abc.abstractmethod
    def apply(self, changes: Change) -> Tuple[Dict[str, Any], Dict[str, Any], List[str]]:
        """Bring servers to ``changes``, sending only what differs; (before, after, what was sent).
        Nothing is sent when a server is unknown."""

    @abc.abstractmethod
    def preview(self, changes: Change) -> Tuple[Dict[str, Any], Dict[str, Any], List[str]]:
        """What ``apply`` would do, changing nothing: (before, after as it would be, what would be sent)."""

    @abc.abstractmethod
    def wait_drained(self, names: Sequence[str], timeout: float, interval: float = 0.2,
                     maint_is_drained: bool = True) -> Dict[str, Any]:
        """Wait until each named server holds no session (a down one counts as drained); the servers last read."""

    @abc.abstractmethod
    def wait_up(self, names: Sequence[str], timeout: float, interval: float = 0.2) -> Dict[str, Any]:
        """Wait until the load balancer's own health checks see each named server fully up; the servers last read."""

    @abc.abstractmethod
    def counters(self, names: Sequence[str]) -> Dict[str, Any]:
        """{server: Counters} (requests, responses by class, errors, response time) of every server, in one
        round trip; raises when one of ``names`` is gone."""

    # The steps of a run, built on the primitives.

    def drain(self, names: Sequence[str], timeout: float, interval: float = 0.2) -> Tuple[Dict[str, Any], List[str]]:
        """Take ``names`` out of rotation and wait for their sessions to end; (servers, what was sent)."""
        _before, _after, sent = self.apply({name: {"admin": "drain"} for name in names})
        return self.wait_drained(names, timeout, interval), sent

    def shift_weights(self, weights: Mapping[str, int], admin: Optional[str] = None, admin_names: Sequence[str] = (),
                      timeout: Optional[float] = None) -> Tuple[Dict[str, Any], List[str]]:
        """Set many weights (and the admin state of ``admin_names``) at once; with a ``timeout``, wait until the
        servers made ready are up. (servers, what was sent)."""
        changes: Change = {name: {"weight": int(weight)} for name, weight in weights.items()}
        for name in admin_names:
            changes.setdefault(name, {})["admin"] = admin
        _before, after, sent = self.apply(changes)
        ready = [name for name in admin_names if admin == "ready"]
        if timeout is not None and ready:
            after = self.wait_up(ready, timeout)
        return after, sent

    def restore(self, before: Mapping[str, Mapping[str, Any]], names: Sequence[str],
                timeout: Optional[float] = None) -> Tuple[Dict[str, Any], List[str]]:
        """Give ``names`` back the admin state and weight of ``before`` (read before the run); with a ``timeout``,
        wait until those that were ready and up then are up again. (servers, what was sent)."""
        _before, after, sent = self.apply(changes_to_restore(before, names))
        back_up = [name for name in names if before[name]["admin"] == "ready" and before[name].get("up", True)]
        if timeout is not None and back_up:
            after = self.wait_up(back_up, timeout)
        return after, sent
