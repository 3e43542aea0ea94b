# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.serving_floor`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: serving_floor
short_description: How many servers must keep serving during a plan, and which batches would leave fewer
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - A server serves when the load balancer sees it up, its admin state is C(ready) and its weight is above 0.
  - Judges a plan (batches of hosts, each host's server named by its C(deploy_lb_name) fact) against the servers of
    the backend as read before the run, before anything changes; the drains of the run check the same floor again,
    against what the load balancer says at that moment.
options:
  _input:
    description: The plan, a list of batches of hosts.
    type: list
    elements: list
    required: true
  hostvars:
    description: C(hostvars), for each host's C(deploy_lb_name).
    type: raw
    required: true
  servers:
    description: Every server of the backend by name, as the run read it (C(admin), C(weight), C(up)).
    type: dict
    required: true
  setting:
    description:
      - C(deploy_min_healthy), a count or a percentage of the servers (rounded up); empty for the default, every server
        of the backend but the largest batch's.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Judge a plan of two batches on a backend where app3 is down (facts written out)
  ansible.builtin.debug:
    msg: >-
      {{ ([['app1'], ['app2']] | lastmile.deploy.serving_floor(
           {'app1': {'deploy_lb_name': 'app1'}, 'app2': {'deploy_lb_name': 'app2'}},
           {'app1': {'admin': 'ready', 'weight': 100, 'up': true}, 'app2': {'admin': 'ready', 'weight': 100, 'up': true},
            'app3': {'admin': 'ready', 'weight': 100, 'up': false, 'status': 'DOWN'}}, '')).problems }}
  # => ['batch 1: taking app1 out would leave 1 of 3 servers serving (app2), fewer than the 2 that must keep serving'
  #     ' (not serving now: app3 DOWN)', 'batch 2: taking app2 out would leave 1 of 3 servers serving (app1), fewer'
  #     ' than the 2 that must keep serving (not serving now: app3 DOWN)']
"""

RETURN = r"""
_value:
  description: The floor and what breaks it.
  type: dict
  contains:
    minimum:
      description: Servers that must keep serving.
      type: int
    total:
      description: Servers of the backend.
      type: int
    serving:
      description: The servers serving now.
      type: list
      elements: str
    not_serving:
      description: Each server that does not serve, and why (its status, admin state or C(weight 0)).
      type: dict
    problems:
      description: One line per batch that would leave fewer than RV(_value.minimum) serving.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.lb.serving import (
    ServingError,
    floor_problems,
    minimum_serving,
    not_serving,
    serving,
)


def serving_floor(plan, hostvars, servers, setting):
    batches = [[hostvars[host].get("deploy_lb_name", host) for host in batch] for batch in plan]
    try:
        minimum = minimum_serving(setting, len(servers), max([len(batch) for batch in batches] or [0]))
    except ServingError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return {"minimum": minimum, "total": len(servers), "serving": serving(servers), "not_serving": not_serving(servers),
            "problems": floor_problems(batches, servers, minimum)}


class FilterModule:
    def filters(self):
        return {"serving_floor": serving_floor}
