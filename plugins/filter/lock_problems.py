# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.lock_problems`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: lock_problems
short_description: Say why the deployment lock was not taken on every host, or nothing
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Reads the result each host registered as C(lock_taken) when it took the deployment lock
    (M(lastmile.deploy.deploy_lock)). A result with a C(msg) is a lock not taken - with a C(holder), another run
    holds it; otherwise the host or the module failed (no Python, an unreachable host) and its first line, C(rc) and
    last line of stderr say why.
  - Returns one message naming every such host and the cause, or an empty string when every host took the lock.
    Hosts without a C(lock_taken) result took no part in locking and are not named.
  - The same judgement as M(lastmile.deploy.run_start), which the deploy playbook runs instead.
options:
  _input:
    description: The hosts, usually C(ansible_play_hosts).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  app:
    description: The application, as the message names it.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Stop unless the lock is taken on every host
  ansible.builtin.fail:
    msg: "{{ ansible_play_hosts | lastmile.deploy.lock_problems(hostvars, 'shop') }}"
  when: ansible_play_hosts | lastmile.deploy.lock_problems(hostvars, 'shop') | length > 0
  run_once: true

- name: The message when another run holds the lock of one host (results written out)
  ansible.builtin.debug:
    msg: >-
      {{ [['web1', 'web2'] | lastmile.deploy.lock_problems({'web1': {'lock_taken': {'holder': {}}},
           'web2': {'lock_taken': {'holder': {'run': 'r1'}, 'msg': 'held by run r1 since 12:00'}}}, 'shop')] }}
  # => ["Another run holds the deployment lock of shop, nothing was changed: web2: held by run r1 since 12:00.
  #     Wait for it to finish; if that run is dead, run again with -e deploy_lock_break=true."]
"""

RETURN = r"""
_value:
  description: The message, or an empty string when every host took the lock.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.run.start import lock_problems as judge_locks


def lock_problems(hosts, hostvars, app):
    """Why the lock was not taken on every host, or ``''``."""
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("lock_problems expects a list of hosts, got %r" % (hosts,))
    hosts = [str(host) for host in hosts]
    return judge_locks(str(app), {host: hostvars[host].get("lock_taken") for host in hosts}, hosts) or ""


class FilterModule:
    """The deployment lock of every host, judged once."""

    def filters(self):
        return {"lock_problems": lock_problems}
