# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.run_failed`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: run_failed
short_description: Whether a run has failed so far, judged the same way by every strategy
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - True when any host of the run recorded a failure (its C(deploy_failure) fact is not empty), or when a host of the
    play dropped out of it (unreachable, or failed outside a step).
  - The engine of lastmile.deploy reads it before each batch and when it finishes a run; it is the one definition of
    a failed run for every strategy.
options:
  _input:
    description: Every host of the play, C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  remaining:
    description: The hosts still in the play, C(ansible_play_hosts).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Tell whether the run failed (web2 recorded a failure; then web2 dropped out of the play)
  ansible.builtin.debug:
    msg: >-
      {{ [['web1', 'web2'] | lastmile.deploy.run_failed({'web1': {}, 'web2': {'deploy_failure': 'web2: verify failed'}}, ['web1', 'web2']),
          ['web1', 'web2'] | lastmile.deploy.run_failed({'web1': {}, 'web2': {}}, ['web1'])] }}
  # => [True, True]

- name: A run where no host failed and none dropped out
  ansible.builtin.debug:
    msg: "{{ [['web1', 'web2'] | lastmile.deploy.run_failed({'web1': {}, 'web2': {'deploy_failure': ''}}, ['web1', 'web2'])] }}"
  # => [False]

- name: Put back what the run changed once it failed
  ansible.builtin.debug:
    msg: the run failed
  when: ansible_play_hosts_all | lastmile.deploy.run_failed(hostvars, ansible_play_hosts)
"""

RETURN = r"""
_value:
  description: True when a host recorded a failure or dropped out of the play.
  type: bool
"""

from ansible.errors import AnsibleFilterError


def run_failed(hosts_all, hostvars, remaining) -> bool:
    """True when a host of ``hosts_all`` recorded ``deploy_failure`` or is not in ``remaining``."""
    if isinstance(hosts_all, (str, bytes)) or isinstance(remaining, (str, bytes)):
        raise AnsibleFilterError("run_failed expects lists of hosts, got %r and %r" % (hosts_all, remaining))
    hosts_all = [str(host) for host in hosts_all]
    remaining = {str(host) for host in remaining}
    if any(host not in remaining for host in hosts_all):
        return True
    return any(hostvars[host].get("deploy_failure") for host in hosts_all)


class FilterModule:
    """The failure rule of a run."""

    def filters(self):
        return {"run_failed": run_failed}
