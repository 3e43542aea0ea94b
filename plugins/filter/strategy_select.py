# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.strategy_select`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: strategy_select
short_description: Choose a deployment strategy from answers about the release
version_added: 0.2.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Picks V(recreate), V(rolling), V(blue_green) or V(canary) from yes/no answers about the release and the fleet,
    and says in one sentence which answers decided it.
  - 'The deployment guide''s decision tree, first question first:'
  - '1. Downtime acceptable (O(_input.downtime_ok))? Then: resources limited (O(_input.resources_limited))? V(recreate),
    which needs no extra capacity. Otherwise: full validation needed (O(_input.full_validation))? V(blue_green), a full
    idle copy verified before it takes traffic; if not, V(rolling).'
  - '2. Downtime not acceptable: a high-risk update (O(_input.high_risk))? V(canary): a small share of real traffic
    reaches the release first, with analysis and automatic rollback.'
  - '3. Otherwise: spare capacity (O(_input.spare_capacity)) and instant rollback needed (O(_input.instant_rollback))?
    V(blue_green), whose old colour keeps running for an instant switch back. Spare capacity without the need for an
    instant rollback, or no spare capacity: V(rolling).'
  - A missing answer, or one set to null, is false. Answers are read as Ansible reads booleans, so V(yes), V(no),
    V(true), V(false), V(1) and V(0) work too.
  - Fails, naming the key, on an unknown answer or a value that is not a boolean.
options:
  _input:
    description: The answers. Every key is optional.
    type: dict
    required: true
    suboptions:
      downtime_ok:
        description: The service may be down while the release goes out.
        type: bool
        default: false
      resources_limited:
        description: The fleet has no room for extra instances or hosts.
        type: bool
        default: false
      full_validation:
        description: The release must be validated under real traffic before everyone gets it.
        type: bool
        default: false
      high_risk:
        description: The release is risky (large change, schema change, new dependency).
        type: bool
        default: false
      spare_capacity:
        description: A second full set of hosts (another colour) is available.
        type: bool
        default: false
      instant_rollback:
        description: Going back must take seconds, with no redeployment.
        type: bool
        default: false
seealso:
  - plugin: lastmile.deploy.canary_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: A risky release on a fleet without a second colour
  ansible.builtin.debug:
    msg: "{{ {'high_risk': true} | lastmile.deploy.strategy_select }}"
  # => {'strategy': 'canary', 'reason': 'downtime_ok is false and high_risk is true: a small share of real traffic
  #     reaches the release first, with analysis and automatic rollback.'}

- name: Pick the strategy when deploy_strategy is auto
  ansible.builtin.set_fact:
    deploy_strategy_chosen: >-
      {{ (deploy_strategy_answers | default({}) | lastmile.deploy.strategy_select).strategy
         if deploy_strategy == 'auto' else deploy_strategy }}
"""

RETURN = r"""
_value:
  description: The strategy and why.
  type: dict
  contains:
    strategy:
      description: The strategy chosen.
      type: str
      choices: [recreate, rolling, blue_green, canary]
      sample: canary
    reason:
      description: One sentence naming the answers on the path through the decision tree.
      type: str
      sample: "downtime_ok is false and high_risk is true: a small share of real traffic reaches the release first, with analysis and automatic rollback."
"""

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.strategy import select_strategy
from ansible_collections.lastmile.deploy.plugins.plugin_utils._filter_errors import filter_errors


@filter_errors
def strategy_select(answers):
    """``{strategy, reason}`` for the release manager's ``answers``."""
    return select_strategy(answers)


class FilterModule:
    """Strategy choice filters."""

    def filters(self):
        return {"strategy_select": strategy_select}
