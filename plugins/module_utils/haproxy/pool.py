# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy behind the load-balancer provider interface (lb/pool.py): one backend, through the runtime API."""

from __future__ import annotations

from typing import Dict, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import HAProxyError
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import DEFAULT_SOCKET, HAProxy
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import (
    _int,
    parse_stat,
    plan_commands,
    preview,
    validate_name,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.lb.pool import Counters, Pool

__all__ = ["HAProxyPool", "counters_from_stat"]


def counters_from_stat(stat_rows: list, backend: str) -> Dict[str, Counters]:
    """{server: Counters} of `backend` from parsed 'show stat' rows."""
    result = {}
    for row in stat_rows:
        if row.get("pxname") != backend or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        result[row.get("svname", "")] = Counters(
            requests=_int(row.get("req_tot")),
            responses_1xx=_int(row.get("hrsp_1xx")),
            responses_2xx=_int(row.get("hrsp_2xx")),
            responses_3xx=_int(row.get("hrsp_3xx")),
            responses_4xx=_int(row.get("hrsp_4xx")),
            responses_5xx=_int(row.get("hrsp_5xx")),
            responses_other=_int(row.get("hrsp_other")),
            connection_errors=_int(row.get("econ")),
            response_errors=_int(row.get("eresp")),
            response_time_ms=_int(row.get("rtime")),
        )
    return result


class HAProxyPool(Pool):
    """The servers of one HAProxy backend, addressed by the admin socket (a path or host:port)."""

    provider = "haproxy"

    def __init__(self, backend: str, socket: str = DEFAULT_SOCKET, haproxy: HAProxy = None) -> None:
        super().__init__(validate_name(backend, "backend"))
        self.haproxy = haproxy or HAProxy(socket)

    def snapshot(self) -> dict:
        return self.haproxy.servers(self.name)

    def apply(self, changes):
        before, after = self.haproxy.apply(self.name, changes)
        return before, after, plan_commands(self.name, before, changes)

    def preview(self, changes):
        before = self.haproxy.servers(self.name)
        return before, preview(before, changes), plan_commands(self.name, before, changes)

    def wait_drained(self, names, timeout, interval=0.2, maint_is_drained=True):
        return self.haproxy.wait_drained(self.name, names, timeout=timeout, interval=interval,
                                         maint_is_drained=maint_is_drained)

    def wait_up(self, names, timeout, interval=0.2):
        return self.haproxy.wait_up(self.name, names, timeout=timeout, interval=interval)

    def counters(self, names: Sequence[str] = ()) -> Dict[str, Counters]:
        (stat_out,) = self.haproxy.client.run(["show stat"])
        counters = counters_from_stat(parse_stat(stat_out), self.name)
        missing = [name for name in names if name not in counters]
        if missing:
            raise HAProxyError(
                "server %s no longer in backend '%s' of HAProxy at %s; was HAProxy reloaded?"
                % (", ".join("'%s'" % name for name in missing), self.name, self.haproxy.address)
            )
        return counters
