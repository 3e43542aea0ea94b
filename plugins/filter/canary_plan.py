# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.canary_plan`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: canary_plan
short_description: The HAProxy weights for every step of a canary release
version_added: 0.2.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Turns a backend's weights (as read before the run), the canary servers and the traffic steps into one entry
    per step, each with the weights from P(lastmile.deploy.traffic_split#filter) and the share those weights
    really give.
  - Fails, naming the step, when O(steps) is not a non-empty list of numbers, a step is not above 0 and at most
    100, the steps do not strictly increase, or a step cannot be met with these weights.
options:
  _input:
    description: Server name to HAProxy weight (0 to 256), as read from the load balancer before the run.
    type: dict
    required: true
  canary:
    description: Names of the canary servers, all of them keys of the input; the others are the stable servers.
    type: list
    elements: str
    required: true
  steps:
    description: Percentages of the traffic for the canary servers, strictly increasing, each above 0 and at most 100.
    type: list
    elements: raw
    default: [10, 50, 100]
seealso:
  - plugin: lastmile.deploy.traffic_split
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The default steps for one canary among four servers at HAProxy's default weight
  ansible.builtin.debug:
    msg: "{{ {'app1': 1, 'app2': 1, 'app3': 1, 'app4': 1} | lastmile.deploy.canary_plan(['app1']) }}"
  # => [{'percent': 10, 'weights': {'app1': 1, 'app2': 3, 'app3': 3, 'app4': 3}, 'canary_share': 0.1},
  #     {'percent': 50, 'weights': {'app1': 3, 'app2': 1, 'app3': 1, 'app4': 1}, 'canary_share': 0.5},
  #     {'percent': 100, 'weights': {'app1': 1, 'app2': 0, 'app3': 0, 'app4': 0}, 'canary_share': 1.0}]

- name: Steps from the inventory
  ansible.builtin.set_fact:
    canary_steps: "{{ lb_weights | lastmile.deploy.canary_plan(canary_servers, deploy_canary_steps) }}"
"""

RETURN = r"""
_value:
  description: One entry per step, in order.
  type: list
  elements: dict
  contains:
    percent:
      description: The step's percentage, as asked for.
      type: raw
      sample: 10
    weights:
      description: Server name to weight for every server, as returned by P(lastmile.deploy.traffic_split#filter).
      type: dict
      sample: {"app1": 1, "app2": 3, "app3": 3, "app4": 3}
    canary_share:
      description: The share of the traffic these weights give the canary servers, from 0 to 1.
      type: float
      sample: 0.1
"""

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.weights import DEFAULT_STEPS, plan_canary
from ansible_collections.lastmile.deploy.plugins.plugin_utils._filter_errors import filter_errors


@filter_errors
def canary_plan(base_weights, canary, steps=DEFAULT_STEPS):
    """One ``{percent, weights, canary_share}`` entry per step of ``steps``."""
    return plan_canary(base_weights, canary, steps)


class FilterModule:
    """Canary planning filters."""

    def filters(self):
        return {"canary_plan": canary_plan}
