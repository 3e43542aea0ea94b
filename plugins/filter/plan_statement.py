# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.plan_statement`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: plan_statement
short_description: What a run would do with its plan, said by a check run instead of doing it
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Says in one statement which hosts a run would move, in which order, from which release to which, and what each
    step does (drain, switch, restart, verify, traffic back, watch; a canary's traffic steps; a blue-green switch of
    colours; a recreate's downtime), and which hosts keep their release.
  - For C(--check) runs of the playbooks C(lastmile.deploy.deploy) and C(lastmile.deploy.rollback), which say this
    and move no host, so that no window is waited for and no traffic is judged.
  - Reads, for each host, C(deploy_release_before) (its release now) and C(deploy_release_target) (the release it
    would move to).
options:
  _input:
    description: The plan, a list of batches (lists of hosts) in order; the strategy's own first step first.
    type: list
    elements: list
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  strategy:
    description: C(rolling), C(recreate), C(blue_green), C(canary) or C(rollback).
    type: str
    required: true
  title:
    description: What the run is, for example C(rolling deployment of shop 2.0).
    type: str
    required: true
  hosts:
    description: Every host of the run, in order; those not in the plan keep their release.
    type: list
    elements: str
    required: true
  details:
    description:
      - C(lb) (a load balancer is driven), C(observe_seconds) (the watch of each batch), C(undoing) (a rollback).
      - For a canary, C(canary_percents) and C(canary_interval); for blue-green, C(target) and C(other) (the idle
        and the live colour) and C(colour_hosts) (colour to hosts).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Say what a rolling deployment would do (facts written out)
  ansible.builtin.debug:
    msg: >-
      {{ [['web1'], ['web2']] | lastmile.deploy.plan_statement(
           {'web1': {'deploy_release_before': '1.0', 'deploy_release_target': '2.0'},
            'web2': {'deploy_release_before': '1.0', 'deploy_release_target': '2.0'}},
           strategy='rolling', title='rolling deployment of shop 2.0', hosts=['web1', 'web2'],
           details={'lb': true, 'observe_seconds': 3}) }}
  # => ('Check mode: nothing was changed, no window was waited for and no traffic was judged. The rolling '
  #     'deployment of shop 2.0 would move 2 hosts in 2 batches, in this order: 1. web1: 1.0 -> 2.0; 2. web2: '
  #     '1.0 -> 2.0. Each batch is drained in the load balancer, switched, restarted, verified directly and '
  #     'given its traffic back, then watched 3 s on the LB counters.')

- name: Say it in a check run, instead of moving the batches
  ansible.builtin.debug:
    msg: >-
      {{ deploy_plan | lastmile.deploy.plan_statement(hostvars, strategy='rolling', title='rolling deployment',
         hosts=ansible_play_hosts) }}
  when: ansible_check_mode
  run_once: true
"""

RETURN = r"""
_value:
  description: The statement, starting C(Check mode:).
  type: str
"""

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.statement import describe_plan


def plan_statement(plan, hostvars, strategy, title, hosts, details=None):
    releases = {host: (hostvars[host].get("deploy_release_before") or None, hostvars[host].get("deploy_release_target") or None)
                for host in hosts}
    return describe_plan(strategy, title, plan, list(hosts), releases, details or {})


class FilterModule:
    def filters(self):
        return {"plan_statement": plan_statement}
