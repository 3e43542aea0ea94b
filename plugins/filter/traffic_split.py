# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.traffic_split`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: traffic_split
short_description: HAProxy weights that give canary servers a share of the traffic
version_added: 0.2.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Takes the weights of a backend's servers as read before the run and returns new weights for all of them,
    so that the canary servers get O(percent) % of the traffic, that is, their share of the total weight is as
    close to O(percent) / 100 as whole weights allow.
  - Ideal weights give exactly the share asked for. Stable servers keep their base weights and canary servers
    get weights in proportion to their own base weights. When a canary would need more than 256, the canary
    servers are scaled so the largest weighs 256 and the stable servers are scaled down instead, in proportion.
    A base weight of 0 counts as 1, so that every server can take traffic.
  - 'The result guarantees, for 0 < O(percent) < 100: every weight is its ideal weight rounded down or up, and at
    least 1; among all such roundings the share is the closest to O(percent); and the share differs from
    O(percent) / 100 by at most 1 / (2 * total), total being the sum of the returned weights, that is by at
    most half of what one unit of weight moves.'
  - When the base weights are too small for the share (even weight 1 per canary is too much, as with HAProxy's
    default weight 1), or when the share they give is off by more than 5 % of the smaller of the canary and
    stable shares, the stable servers are multiplied by the whole factor, within 256, whose share is the
    closest.
  - O(percent=0) gives the canary servers weight 0 and the stable servers their base weights (at least 1).
    O(percent=100) gives the stable servers weight 0 and the canary servers their base weights (at least 1).
  - Fails, naming the value, when O(percent) is not a number from 0 to 100, O(canary) is empty or names a
    server not in the input, a weight is not a whole number from 0 to 256, there is no stable server for a
    share between 0 and 100, or the share cannot be met within the guarantee (for example 0.1 % against two
    stable servers at weight 200); the message then gives the closest share that is possible.
options:
  _input:
    description: Server name to HAProxy weight (0 to 256), as read from the load balancer before the run.
    type: dict
    required: true
  canary:
    description:
      - Names of the canary servers, all of them keys of the input. Duplicates are ignored.
      - The other servers of the input are the stable servers.
    type: list
    elements: str
    required: true
  percent:
    description:
      - Share of the traffic for the canary servers, from 0 to 100. Text such as V(12.5) or V(12.5%) is read
        as a number.
    type: raw
    required: true
seealso:
  - plugin: lastmile.deploy.canary_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Ten percent of the traffic for one canary server
  ansible.builtin.debug:
    msg: "{{ {'app1': 100, 'app2': 100, 'app3': 100, 'app4': 100} | lastmile.deploy.traffic_split(['app1'], 10) }}"
  # => {'app1': 33, 'app2': 100, 'app3': 100, 'app4': 100}  (9.91 %)

- name: HAProxy's default weight 1 is too coarse for 10 %, so the stable servers are scaled up
  ansible.builtin.debug:
    msg: "{{ {'app1': 1, 'app2': 1, 'app3': 1, 'app4': 1} | lastmile.deploy.traffic_split(['app1'], 10) }}"
  # => {'app1': 1, 'app2': 3, 'app3': 3, 'app4': 3}  (10 %)

- name: Half of the traffic; the canary would need more than 256, so the stable servers go down instead
  ansible.builtin.debug:
    msg: "{{ {'app1': 100, 'app2': 100, 'app3': 100, 'app4': 100} | lastmile.deploy.traffic_split(['app1'], 50) }}"
  # => {'app1': 256, 'app2': 86, 'app3': 85, 'app4': 85}  (50 %)
"""

RETURN = r"""
_value:
  description: Server name to new weight (0 to 256) for every server of the input, in the input's order.
  type: dict
"""

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.weights import split_traffic
from ansible_collections.lastmile.deploy.plugins.plugin_utils._filter_errors import filter_errors


@filter_errors
def traffic_split(base_weights, canary, percent):
    """Weights for all servers of ``base_weights`` giving ``canary`` ``percent`` % of the traffic."""
    return split_traffic(base_weights, canary, percent).weights


class FilterModule:
    """Canary traffic filters."""

    def filters(self):
        return {"traffic_split": traffic_split}
