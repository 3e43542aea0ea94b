# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.host_problems`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: host_problems
short_description: Say each problem of a registered result once, with the hosts it is about
version_added: 0.3.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Reads the result each host registered under O(register), and returns one line per distinct problem, led by the
    hosts that have it (V(every host (N\)) when all of them do).
  - The problems of a result are its C(problems) list; a failed result without one counts its C(msg) as the problem,
    and an unreachable host counts as unreachable.
options:
  _input:
    description: The hosts, usually C(ansible_play_hosts) or C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  register:
    description: The name the results were registered under.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name each host's problem once (results as the hosts registered them, here written out)
  ansible.builtin.debug:
    msg: >-
      {{ ['web1', 'web2', 'web3'] | lastmile.deploy.host_problems({
           'web1': {'checked': {'failed': true, 'problems': ['deploy_port is not set']}},
           'web2': {'checked': {'failed': true, 'problems': ['deploy_port is not set']}},
           'web3': {'checked': {'unreachable': true, 'msg': 'connection refused'}}}, 'checked') }}
  # => ['web1, web2: deploy_port is not set', 'web3: unreachable: connection refused']

- name: Stop once, naming every host's problems
  ansible.builtin.fail:
    msg: "{{ ansible_play_hosts | lastmile.deploy.host_problems(hostvars, 'checked') | join('; ') }}"
  when: ansible_play_hosts | lastmile.deploy.host_problems(hostvars, 'checked') | length > 0
  run_once: true
"""

RETURN = r"""
_value:
  description: 'One line per set of hosts and their problems, C(<hosts>: <problem>; <problem>), in the order the hosts are given.'
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.run.messages import group_by_message


def _problems(result) -> list:
    if not isinstance(result, dict):
        return []
    if result.get("unreachable"):
        return ["unreachable: %s" % result.get("msg", "no answer")]
    problems = result.get("problems")
    if isinstance(problems, list) and problems:
        return [str(problem) for problem in problems]
    if result.get("failed"):
        return [str(result.get("msg") or "failed")]
    return []


def host_problems(hosts, hostvars, register):
    """``["web1, web2: problem", ...]`` from the results the hosts registered under ``register``."""
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("host_problems expects a list of hosts, got %r" % (hosts,))
    hosts = [str(host) for host in hosts]
    return group_by_message({host: _problems(hostvars[host].get(register)) for host in hosts}, hosts)


class FilterModule:
    """Filters that report on many hosts."""

    def filters(self):
        return {"host_problems": host_problems}
