# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many servers must keep serving while a run takes some out (deploy_min_healthy), and who serves.

A server serves when its load balancer sees it up, its admin state is ready and its weight is above 0.
Servers are dicts as the LB readings give them (``admin``, ``weight``, ``up``) or objects with those
attributes (haproxy/state.py's Server).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import count_or_percent
from ansible_collections.lastmile.deploy.plugins.module_utils.run.messages import hosts_text

__all__ = ["ServingError", "floor_problems", "minimum_serving", "not_serving", "serving", "too_few_left"]


class ServingError(LastmileError, ValueError):
    """deploy_min_healthy is not a count or a percentage."""


def _field(server: Any, name: str) -> Any:
    return server.get(name) if isinstance(server, Mapping) else getattr(server, name, None)


def why_not_serving(server: Any) -> Optional[str]:
    """None for a server that serves; else what keeps it from serving (``DOWN``, ``drain``, ``weight 0``)."""
    if server is None:
        return "absent"
    if not _field(server, "up"):
        return str(_field(server, "status") or "DOWN").strip() or "DOWN"
    if _field(server, "admin") != "ready":
        return str(_field(server, "admin"))
    try:
        weight = int(_field(server, "weight") or 0)
    except (TypeError, ValueError):
        weight = 0
    return None if weight > 0 else "weight 0"


def serving(servers: Mapping[str, Any]) -> List[str]:
    """The names of the servers that serve, in the order given."""
    return [name for name, server in servers.items() if why_not_serving(server) is None]


def not_serving(servers: Mapping[str, Any]) -> Dict[str, str]:
    """{name: why} for every server that does not serve."""
    return {name: why for name, why in ((name, why_not_serving(server)) for name, server in servers.items()) if why}


def minimum_serving(setting: Any, total: int, largest_batch: int) -> int:
    """Servers that must keep serving out of ``total``: ``setting`` as a count (3) or a share of them
    ("75%", rounded up); unset (None or ""), every server but the largest batch's."""
    if setting is None or (isinstance(setting, str) and not setting.strip()):
        return max(0, total - largest_batch)
    count, percent = count_or_percent(setting)
    if percent is not None:
        if percent > 100:
            raise ServingError("deploy_min_healthy %r must be a percentage of at most 100" % (setting,))
        return math.ceil(total * percent / 100)
    if count is None or count < 0:
        raise ServingError("deploy_min_healthy %r is not a whole number of at least 0 or a percentage such as '75%%'"
                           % (setting,))
    return count


def too_few_left(servers: Mapping[str, Any], taken: Sequence[str], minimum: int) -> Optional[str]:
    """Why taking ``taken`` out of ``servers`` would leave fewer than ``minimum`` serving, or None.

    Taking out only servers that do not serve (a first deployment, a host already down) takes no
    capacity away: no floor applies to it.
    """
    now = serving(servers)
    left = [name for name in now if name not in taken]
    if len(left) >= minimum or not any(name in now for name in taken):
        return None
    down = ["%s %s" % (name, why) for name, why in not_serving(servers).items() if name not in taken]
    return ("taking %s out would leave %d of %d servers serving (%s), fewer than the %d that must keep serving%s"
            % (hosts_text(list(taken)), len(left), len(servers), hosts_text(left) or "none", minimum,
               " (not serving now: %s)" % ", ".join(down) if down else ""))


def floor_problems(batches: Sequence[Sequence[str]], servers: Mapping[str, Any], minimum: int) -> List[str]:
    """For each batch of server names that would leave fewer than ``minimum`` serving: why (see too_few_left)."""
    problems = []
    for number, batch in enumerate(batches, 1):
        problem = too_few_left(servers, batch, minimum)
        if problem:
            problems.append("batch %d: %s" % (number, problem))
    return problems
