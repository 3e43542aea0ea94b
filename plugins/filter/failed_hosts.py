# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.failed_hosts`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: failed_hosts
short_description: The hosts of a step that failed it so far, for a step that must not go on without all of them
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Returns, in the order given, the hosts that dropped out of the play (not in O(remaining)) or whose result
    registered under one of O(registers) failed or was unreachable.
  - Ansible runs the next tasks of a block for the hosts that did not fail before the rescue of a host that did; a
    step that must not start once any host of its batch failed (switching a fleet that did not stop everywhere,
    giving a colour traffic) checks this first, on every host of the batch.
  - A result that is not there, or empty (a run's clean slate), is no failure.
options:
  _input:
    description: The hosts of the step.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  registers:
    description: The names the step's tasks registered their results under.
    type: list
    elements: str
    required: true
  remaining:
    description: The hosts still in the play, C(ansible_play_hosts).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Name the hosts that failed to stop or dropped out (results written out)
  ansible.builtin.debug:
    msg: >-
      {{ ['web1', 'web2', 'web3'] | lastmile.deploy.failed_hosts({
           'web1': {'service_stop': {'changed': true}},
           'web2': {'service_stop': {'unreachable': true, 'changed': false}},
           'web3': {'service_stop': {}}}, ['service_stop'], ['web1', 'web2']) }}
  # => ['web2', 'web3']

- name: Go on only when every host of the batch stopped
  ansible.builtin.fail:
    msg: "{{ failed | join(', ') }} did not stop"
  vars:
    failed: "{{ ansible_play_batch | lastmile.deploy.failed_hosts(hostvars, ['service_stop'], ansible_play_hosts) }}"
  when: failed | length > 0
"""

RETURN = r"""
_value:
  description: The hosts that failed a registered result or dropped out, in the order given.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _failed(result) -> bool:
    return isinstance(result, Mapping) and bool(result.get("failed") or result.get("unreachable"))


def failed_hosts(hosts, hostvars, registers, remaining):
    """The hosts of ``hosts`` not in ``remaining`` or with a failed or unreachable result under ``registers``."""
    for name, value in (("hosts", hosts), ("registers", registers), ("remaining", remaining)):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise AnsibleFilterError("failed_hosts expects a list of %s, got %r" % (name, value))
    remaining = set(str(host) for host in remaining)
    return [str(host) for host in hosts
            if str(host) not in remaining or any(_failed(hostvars[host].get(register)) for register in registers)]


class FilterModule:
    """Which hosts of a step failed it so far."""

    def filters(self):
        return {"failed_hosts": failed_hosts}
