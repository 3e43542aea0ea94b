# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.next_batch`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: next_batch
short_description: The batch after a host's, and the part of it that host takes out
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Finds the batch holding the host in a list of batches and returns the batch after it.
  - Deals the hosts of that next batch out in turn over the hosts of the host's own batch, and returns the host's
    share, for a play in which the hosts of one batch, each with its own module run, take the whole next batch out
    of the load balancer between them once their own batch serves again. The deploy playbook takes the next batch
    out in one run that the batch's first host sends for all of them (M(lastmile.deploy.haproxy_server)'s
    O(lastmile.deploy.haproxy_server#module:sent_by)), and reads only C(hosts).
  - A host of the last batch, or of no batch, gets no next batch and no share.
options:
  _input:
    description: The batches, each a list of hosts, in the order they move.
    type: list
    elements: list
    required: true
  host:
    description: The host whose next batch and share to return.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The share of app2 in [[app1, app2], [app3, app4, app5]]
  ansible.builtin.debug:
    msg: "{{ [['app1', 'app2'], ['app3', 'app4', 'app5']] | lastmile.deploy.next_batch('app2') }}"
  # => {'hosts': ['app3', 'app4', 'app5'], 'share': ['app4']}
"""

RETURN = r"""
_value:
  description: C(hosts), the next batch (empty after the last one), and C(share), the part of it the host takes out.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import next_batch as hosts_of_next_batch
from ansible_collections.lastmile.deploy.plugins.plugin_utils._filter_errors import filter_errors


@filter_errors
def next_batch(batches, host):
    """The batch after ``host``'s and ``host``'s share of it: ``{'hosts': [...], 'share': [...]}``."""
    if isinstance(batches, (str, bytes)) or not hasattr(batches, "__iter__") \
            or not all(hasattr(batch, "__iter__") and not isinstance(batch, (str, bytes)) for batch in batches):
        raise AnsibleFilterError("next_batch expects a list of batches (lists of hosts), got %r" % (batches,))
    if not isinstance(host, str):
        raise AnsibleFilterError("next_batch expects a host name, got %r" % (host,))
    return hosts_of_next_batch([[str(item) for item in batch] for batch in batches], host)


class FilterModule:
    """The hand-on between two batches."""

    def filters(self):
        return {"next_batch": next_batch}
