#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_info
short_description: Read HAProxy backends and servers through the runtime API
description:
  - Reads admin state, health, weights and traffic counters of the servers of one backend, or of all
    backends, from the HAProxy runtime API (C(show servers state) and C(show stat) in one round trip).
  - Used to record the weights before a deployment, find the live blue-green colour, and compare
    canary and stable servers.
version_added: 0.1.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs where the HAProxy socket is reachable; usually delegated to the load balancer host.
options:
  socket:
    description:
      - HAProxy runtime API address, either a unix socket path or C(host:port)
        (C([v6addr]:port) for IPv6).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description:
      - Backend to read. All backends when omitted.
    type: str
notes:
  - When the task is delegated (to the load-balancer host) and that host cannot be reached, the task
    fails with a message starting C(unreachable:) instead of making the task's own host
    unreachable, so that host stays in the play and its rescue runs.
  - Needs only the Python standard library on the host it runs on.
seealso:
  - module: lastmile.deploy.haproxy_server
"""

EXAMPLES = r"""
- name: Record the weights before the deployment
  lastmile.deploy.haproxy_info:
    backend: myapp
  delegate_to: "{{ groups['lb'][0] }}"
  register: lb_before

- name: Show the weight of every server
  ansible.builtin.debug:
    msg: "{{ lb_before.servers | dict2items | map(attribute='value.weight') | list }}"

- name: Read every backend over a TCP admin socket
  lastmile.deploy.haproxy_info:
    socket: 127.0.0.1:9999
  register: lb_all
"""

RETURN = r"""
servers:
  description: Servers of O(backend), by name.
  returned: when O(backend) is given
  type: dict
  sample:
    web1:
      backend: myapp
      name: web1
      address: 10.0.0.11
      port: 8080
      admin: ready
      status: UP
      up: true
      weight: 100
      initial_weight: 100
      sessions: 3
      queued: 0
      total_sessions: 5120
      responses_2xx: 5003
      responses_5xx: 2
      requests_total: 5120
      response_time_ms: 12
      total_time_ms: 14
      check_status: L7OK
backends:
  description:
    - Servers by backend name, then by server name; only O(backend) when it is given.
    - A backend without servers maps to an empty dict.
  returned: always
  type: dict
  sample:
    myapp:
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
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import (
    INFO_ARGUMENT_SPEC,
    read_servers,
)


def main() -> None:
    module = AnsibleModule(argument_spec=INFO_ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = read_servers(module.params)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
