# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the haproxy_server and haproxy_info tasks do with their options.

Shared by the modules and by their action plugins, which call these in the controller's own
process when the task runs on the controller (plugins/plugin_utils/_controller_module.py).
"""

from __future__ import annotations

import time
from typing import List

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.pool import HAProxyPool
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import (
    DEFAULT_SOCKET,
    HAProxy,
    HAProxyError,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import (
    ADMIN_STATES,
    admin_and_weight,
    unmet_changes,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.lb.serving import too_few_left

__all__ = ["INFO_ARGUMENT_SPEC", "SERVER_ARGUMENT_SPEC", "SERVER_SPEC_RULES", "HAProxyError", "change_servers",
           "read_servers"]

SERVER_ARGUMENT_SPEC = dict(
    socket=dict(type="str", default=DEFAULT_SOCKET),
    backend=dict(type="str", required=True),
    name=dict(type="list", elements="str", aliases=["names", "server"]),
    state=dict(type="str", choices=list(ADMIN_STATES)),
    weight=dict(type="int"),
    weights=dict(type="dict"),
    # {server: {state, weight, wait}}: several servers, each with its own change (a batch given back)
    servers=dict(type="dict"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float", default=60.0),
    wait_interval=dict(type="float", default=0.2),
    min_serving=dict(type="int", default=0),
    batch=dict(type="list", elements="str", default=[]),
    # canary_analysis's options, judged after the change in the same run (module_utils/canary/watch.py)
    watch=dict(type="dict"),
    # the next servers taken out once the change (and the watch) went well (module_utils/canary/watch.py)
    then_drain=dict(type="list", elements="str", default=[]),
    drain_timeout=dict(type="float", default=60.0),
    # the action plugin's: the hosts that share one run of the task, and this host's server (never sent)
    sent_by=dict(type="list", elements="str"),
    own_server=dict(type="str"),
)
SERVER_SPEC_RULES = dict(
    mutually_exclusive=[("weight", "weights"), ("servers", "name"), ("servers", "state"), ("servers", "weight"),
                        ("servers", "weights")],
    required_one_of=[("name", "weights", "servers"), ("state", "weight", "weights", "servers")],
)
# what O(servers) may say of each server
_SERVER_KEYS = ("state", "weight", "wait")
INFO_ARGUMENT_SPEC = dict(
    socket=dict(type="str", default=DEFAULT_SOCKET),
    backend=dict(type="str"),
)


def _server_change(name: object, given: object) -> dict:
    """One server's change of O(servers), checked: {'admin': ..., 'weight': ...}."""
    if not isinstance(name, str) or not isinstance(given, dict) or not set(given) <= set(_SERVER_KEYS):
        raise HAProxyError("servers: %r: %r: expected a server name and a dict of %s"
                           % (name, given, ", ".join(_SERVER_KEYS)))
    change = {}
    if given.get("state") is not None:
        if given["state"] not in ADMIN_STATES:
            raise HAProxyError("servers: state %r of server '%s': expected one of %s"
                               % (given["state"], name, ", ".join(ADMIN_STATES)))
        change["admin"] = given["state"]
    if given.get("weight") is not None:
        try:
            change["weight"] = int(given["weight"])
        except (TypeError, ValueError):
            raise HAProxyError("servers: weight %r of server '%s': expected an integer" % (given["weight"], name))
    if not isinstance(given.get("wait", True), bool):
        raise HAProxyError("servers: wait %r of server '%s': expected true or false" % (given["wait"], name))
    if not change:
        raise HAProxyError("servers: server '%s' has no state or weight to set" % name)
    return change


def build_changes(params: dict) -> dict:
    """{server: {'admin': ..., 'weight': ...}} from the module options."""
    if params.get("servers"):
        return {name: _server_change(name, given) for name, given in params["servers"].items()}
    weights = {}
    for name, value in (params["weights"] or {}).items():
        try:
            weights[name] = int(value)
        except (TypeError, ValueError):
            raise HAProxyError("weight %r for server '%s' in weights is not an integer" % (value, name))
    names = params["name"] or list(weights)
    changes = {}
    for name in names:
        change = changes.setdefault(name, {})
        if params["state"] is not None:
            change["admin"] = params["state"]
        if params["weight"] is not None:
            change["weight"] = params["weight"]
    for name, weight in weights.items():
        changes.setdefault(name, {})["weight"] = weight
    return changes


def wait_for(pool: HAProxyPool, params: dict, current: dict, targets: list) -> dict:
    """Wait as the requested state asks; return the servers last read."""
    state = params["state"]
    timing = dict(timeout=params["wait_timeout"], interval=params["wait_interval"])
    if state == "drain":
        return pool.wait_drained(targets, **timing)
    if state == "maint":
        # Servers put into maintenance keep their in-flight sessions: wait for them.
        return pool.wait_drained(targets, maint_is_drained=False, **timing)
    if state == "ready":
        return pool.wait_up(targets, **timing)
    return current


def _waits(params: dict, changes: dict) -> dict:
    """{state: [servers to wait for]}: those with a new state, unless O(wait) (or their own in O(servers)) is false."""
    waits: dict = {}
    for name, change in changes.items():
        wait = (params.get("servers") or {}).get(name, {}).get("wait", params["wait"])
        if change.get("admin") and wait:
            waits.setdefault(change["admin"], []).append(name)
    return waits


def takes_out(changes: dict) -> bool:
    """True when a change stops a server from serving: drain, maint or weight 0."""
    return any(change.get("admin") in ("drain", "maint") or change.get("weight") == 0 for change in changes.values())


def wait_for_floor(pool: HAProxyPool, params: dict, taken: list, check_mode: bool) -> None:
    """Wait until taking ``taken`` out leaves at least ``min_serving`` servers serving, up to ``wait_timeout``
    (not in check mode); raise when it would not, changing nothing."""
    deadline = time.monotonic() + (0 if check_mode else max(params["wait_timeout"], 0.0))
    while True:
        problem = too_few_left(pool.snapshot(), taken, params["min_serving"])
        if problem is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waited = "" if check_mode else "waited %gs, " % params["wait_timeout"]
            raise HAProxyError("backend '%s': %s; %snothing was changed" % (params["backend"], problem, waited)).with_result(
                changed=False, below_min_serving=True)
        time.sleep(min(max(params["wait_interval"], 0.01), remaining))


def change_servers(params: dict, check_mode: bool, diff: bool, warnings: List[str]) -> dict:
    """Change and wait; a failure carries ``changed`` and the ``commands`` already sent.

    Commands count as sent once HAProxy's socket took the connection, also when HAProxy then refused
    some of them or its answer failed to come (it may have applied them): CommandsSent says so.
    """
    sent = dict(changed=False, commands=[])
    try:
        changes = build_changes(params)
        targets = list(changes)
        pool = HAProxyPool(params["backend"], params["socket"])
        if params["min_serving"] > 0 and takes_out(changes):
            wait_for_floor(pool, params, targets + [name for name in params["batch"] if name not in targets], check_mode)
        if check_mode:
            before, after, commands = pool.preview(changes)
        else:
            before, after, commands = pool.apply(changes)
            sent = dict(changed=bool(commands), commands=commands)
            for problem in unmet_changes(after, changes):
                warnings.append("HAProxy did not take the change: %s" % problem)
            for state, waited in _waits(params, changes).items():
                after = wait_for(pool, dict(params, state=state), after, waited)
    except HAProxyError as exc:
        raise exc.with_result(**sent)
    result = dict(
        changed=bool(commands),
        commands=sent["commands"],
        servers={name: server.as_dict() for name, server in after.items()},
    )
    if diff:
        result["diff"] = dict(before=admin_and_weight(before, targets), after=admin_and_weight(after, targets))
    return result


def as_dicts(servers: dict) -> dict:
    return {name: server.as_dict() for name, server in servers.items()}


def read_servers(params: dict) -> dict:
    """One backend's servers, or every backend's."""
    haproxy = HAProxy(params["socket"])
    backend = params["backend"]
    if backend is None:
        return dict(changed=False, backends={name: as_dicts(servers) for name, servers in haproxy.backends().items()})
    servers = as_dicts(HAProxyPool(backend, haproxy=haproxy).snapshot())
    return dict(changed=False, servers=servers, backends={backend: servers})
