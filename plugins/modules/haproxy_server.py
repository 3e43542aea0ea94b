#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Drain, ready, put into maintenance and weight HAProxy servers
description:
  - Sets the admin state (V(ready), V(drain), V(maint)) and the weight of servers in one HAProxy
    backend through the runtime API (the admin stats socket).
  - Reads the backend first and sends only the commands needed to reach the requested state, all in
    one round trip; re-running with the same options changes nothing.
  - When a new weight comes with O(state=ready), the weight is set before the server is made ready.
  - With O(wait), waits after O(state=drain) or O(state=maint) until the servers hold no sessions, and
    after O(state=ready) until HAProxy's health checks report them UP.
  - Runtime changes are lost when HAProxy reloads unless its configuration uses
    C(server-state-file) and C(load-server-state-from-file).
version_added: 0.1.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the backend and reports what would change; sends no command and does not wait.
  diff_mode:
    support: full
    details: Shows C(admin) and C(weight) of each server acted on, before and after.
  platform:
    support: full
    platforms: posix
    details: Runs where the HAProxy socket is reachable; usually delegated to the load balancer host.
options:
  socket:
    description:
      - HAProxy runtime API address with C(level admin), either a unix socket path or C(host:port)
        (C([v6addr]:port) for IPv6).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: Name of the HAProxy backend holding the servers.
    type: str
    required: true
  name:
    description:
      - Servers to act on.
      - Required unless O(weights) is given; then O(state) applies to the servers in O(weights).
    type: list
    elements: str
    aliases: [names, server]
  state:
    description:
      - Admin state to set. V(ready) takes traffic, V(drain) takes no new traffic but keeps its
        sessions (and persistent clients), V(maint) takes nothing new and is not health checked.
      - Left as it is when omitted.
    type: str
    choices: [ready, drain, maint]
  weight:
    description: Weight (0-256) to set on every server in O(name).
    type: int
  weights:
    description:
      - Weight per server, as a mapping of server name to weight (0-256).
      - Mutually exclusive with O(weight).
    type: dict
  wait:
    description:
      - After O(state=drain) or O(state=maint), wait until the servers hold no current or queued
        sessions; a server that is DOWN counts as drained.
      - After O(state=ready), wait until HAProxy reports the servers fully C(UP) (or C(no check)); C(UP 1/3)
        does not count, as HAProxy shows it while checks fail and right after maintenance, before a
        check has confirmed the server.
      - Waiting happens even when nothing changed, since an earlier drain may still hold sessions.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait before failing.
    type: float
    default: 60
  wait_interval:
    description: Seconds between two reads of the backend while waiting.
    type: float
    default: 0.2
notes:
  - Needs only the Python standard library on the host it runs on.
seealso:
  - module: lastmile.deploy.haproxy_info
"""

EXAMPLES = r"""
- name: Take this host out of the pool and wait for its sessions to end
  lastmile.deploy.haproxy_server:
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: drain
    wait_timeout: 120
  delegate_to: "{{ groups['lb'][0] }}"

- name: Put it back at weight 100 once it is healthy
  lastmile.deploy.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: ready
    weight: 100
  delegate_to: "{{ groups['lb'][0] }}"

- name: Shift canary traffic over a TCP admin socket
  lastmile.deploy.haproxy_server:
    socket: 10.0.0.5:9999
    backend: myapp
    weights:
      web1: 10
      web2: 90
      web3: 90
  delegate_to: localhost
"""

RETURN = r"""
servers:
  description:
    - Every server of the backend after the change and any wait, by name.
    - In check mode, the servers as they would be (admin and weight; other fields as read).
  returned: always
  type: dict
  sample:
    web1:
      backend: myapp
      name: web1
      address: 10.0.0.11
      port: 8080
      admin: drain
      status: DRAIN
      up: true
      weight: 100
      initial_weight: 100
      sessions: 0
      queued: 0
      total_sessions: 5120
      responses_2xx: 5003
      responses_5xx: 2
      requests_total: 5120
      response_time_ms: 12
      total_time_ms: 14
      check_status: L7OK
commands:
  description:
    - Runtime API commands sent; empty in check mode and when nothing changed.
    - Also returned, with C(changed), when a wait fails after the commands were sent.
  returned: always
  type: list
  elements: str
  sample:
    - set server myapp/web1 state drain
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils._haproxy import (
    DEFAULT_SOCKET,
    HAProxy,
    HAProxyError,
)
from ansible_collections.lastmile.deploy.plugins.module_utils._haproxy_state import (
    ADMIN_STATES,
    admin_and_weight,
    plan_commands,
    preview,
    unmet_changes,
)


def build_changes(params: dict) -> dict:
    """{server: {'admin': ..., 'weight': ...}} from the module options."""
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


def wait_for(haproxy: HAProxy, params: dict, current: dict, targets: list) -> dict:
    """Wait as the requested state asks; return the servers last read."""
    backend, state = params["backend"], params["state"]
    timing = dict(timeout=params["wait_timeout"], interval=params["wait_interval"])
    if state == "drain":
        return haproxy.wait_drained(backend, targets, **timing)
    if state == "maint":
        # Servers put into maintenance keep their in-flight sessions: wait for them.
        return haproxy.wait_drained(backend, targets, maint_is_drained=False, **timing)
    if state == "ready":
        return haproxy.wait_up(backend, targets, **timing)
    return current


def run(module: AnsibleModule, progress: dict) -> dict:
    """Change and wait; `progress` records what was sent, for the failure message."""
    params = module.params
    backend = params["backend"]
    changes = build_changes(params)
    targets = list(changes)
    haproxy = HAProxy(params["socket"])
    if module.check_mode:
        before = haproxy.servers(backend)
        commands = plan_commands(backend, before, changes)
        after = preview(before, changes)
        sent = []
    else:
        before, after = haproxy.apply(backend, changes)
        commands = plan_commands(backend, before, changes)
        sent = commands
        progress.update(changed=bool(commands), commands=sent)
        for problem in unmet_changes(after, changes):
            module.warn("HAProxy did not take the change: %s" % problem)
        if params["wait"]:
            after = wait_for(haproxy, params, after, [name for name in targets if changes[name].get("admin")])
    result = dict(
        changed=bool(commands),
        commands=sent,
        servers={name: server.as_dict() for name, server in after.items()},
    )
    if module._diff:
        result["diff"] = dict(before=admin_and_weight(before, targets), after=admin_and_weight(after, targets))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="str", default=DEFAULT_SOCKET),
            backend=dict(type="str", required=True),
            name=dict(type="list", elements="str", aliases=["names", "server"]),
            state=dict(type="str", choices=list(ADMIN_STATES)),
            weight=dict(type="int"),
            weights=dict(type="dict"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="float", default=60.0),
            wait_interval=dict(type="float", default=0.2),
        ),
        mutually_exclusive=[("weight", "weights")],
        required_one_of=[("name", "weights"), ("state", "weight", "weights")],
        supports_check_mode=True,
    )
    progress = dict(changed=False, commands=[])
    try:
        result = run(module, progress)
    except HAProxyError as exc:
        module.fail_json(msg=str(exc), **progress)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
