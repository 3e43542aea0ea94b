# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.batches`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: batches
short_description: Cut a list of hosts into deployment batches
version_added: 0.1.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Splits a list (usually host names) into consecutive batches, keeping the order.
  - The batch size is a count such as V(2) or a share of the list such as V(25%), rounded up, at least one.
options:
  _input:
    description: The hosts (or any items) to split.
    type: list
    elements: raw
    required: true
  size:
    description: Hosts per batch, a whole number of at least 1 or a percentage above 0 and at most 100.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Four hosts, two at a time
  ansible.builtin.debug:
    msg: "{{ ['app1', 'app2', 'app3', 'app4'] | lastmile.deploy.batches(2) }}"
  # => [['app1', 'app2'], ['app3', 'app4']]

- name: A quarter of the fleet per batch
  ansible.builtin.debug:
    msg: "{{ groups['app'] | lastmile.deploy.batches('25%') }}"
"""

RETURN = r"""
_value:
  description: The batches, each a list of items, in the input's order.
  type: list
  elements: list
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import split_batches
from ansible_collections.lastmile.deploy.plugins.plugin_utils._filter_errors import filter_errors


@filter_errors
def batches(hosts, size):
    """Split ``hosts`` into batches of ``size`` (count or percentage)."""
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("batches expects a list of hosts, got %r" % (hosts,))
    return split_batches(hosts, size)


class FilterModule:
    """Deployment planning filters."""

    def filters(self):
        return {"batches": batches}
