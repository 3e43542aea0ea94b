# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.rollback_undoes`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollback_undoes
short_description: What a rollback of these hosts removes, what it puts back and what was undone since
version_added: 0.4.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - Reads, for each host, the facts C(lastmile.deploy.release) remembers from the release state (C(deploy_release_before),
    the current release; C(deploy_release_previous), the release a rollback goes back to; C(deploy_release_history)).
  - Picks the run the rollback undoes, by the run id each switch records in the history. It is the newest run that
    put a host's current release in place and still stands (succeeded or pending), past any restore or rollback
    that put a release back. The rollback moves the hosts that run changed, and the others stay. Histories
    recorded before runs had ids move every host.
  - Says, before a rollback changes anything, which release it removes and which it puts back, and which deployments
    failed or were rolled back since the release it puts back, each with its time and the hosts it is about.
options:
  _input:
    description: The hosts of the rollback, in order.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Say what a rollback of web1 and web2 undoes (facts written out)
  ansible.builtin.debug:
    msg: >-
      {{ (['web1', 'web2'] | lastmile.deploy.rollback_undoes({
           'web1': {'deploy_release_before': '2.0', 'deploy_release_previous': '1.0', 'deploy_release_history': history},
           'web2': {'deploy_release_before': '2.0', 'deploy_release_previous': '1.0', 'deploy_release_history': history}})).message }}
  vars:
    history:
      - {version: '1.0', status: succeeded, switched_at: '2026-01-01T00:00:01.000000Z', finished_at: '2026-01-01T00:00:02.000000Z'}
      - {version: '2.0', status: succeeded, switched_at: '2026-01-02T00:00:01.000000Z', finished_at: '2026-01-02T00:00:02.000000Z'}
      - {version: '3.0', status: failed, switched_at: '2026-01-03T00:00:01.000000Z', finished_at: '2026-01-03T00:00:02.000000Z'}
  # => ('Rolling back: web1, web2: removes 2.0, puts back 1.0. Deployments already undone since: web1, web2: 3.0 failed at 2026-01-03T00:00:02.000000Z.')

- name: Say it before a rollback changes anything
  ansible.builtin.debug:
    msg: "{{ (ansible_play_hosts | lastmile.deploy.rollback_undoes(hostvars)).message }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The statement.
  type: dict
  contains:
    run:
      description: The id of the run the rollback undoes; null when no history records run ids.
      type: str
    hosts:
      description: The hosts the rollback moves, in input order.
      type: list
      elements: str
    staying:
      description: The hosts that run did not change; the rollback leaves them as they are.
      type: list
      elements: str
    problem:
      description:
        - Empty, or why the rollback is refused. The hosts it moves and those that stay would end on different
          releases. The text names each host's release, where it would end and its last history entries.
      type: str
    removes:
      description: 'Lines C(<hosts>: removes <release>, puts back <release>), one per pair of releases.'
      type: list
      elements: str
    undone:
      description:
        - 'Lines C(<hosts>: <release> failed at <time>; <release> was rolled back at <time>) for what failed or was
          rolled back since the release put back (since the current one was put in place where there is none), oldest
          first.'
      type: list
      elements: str
    current_undone:
      description: Per host whose current release was itself already rolled back, C(<release> was rolled back at <time>).
      type: dict
    message:
      description: All of it in one or two sentences.
      type: str
"""

from ansible_collections.lastmile.deploy.plugins.module_utils.release.undo import describe_undo


def rollback_undoes(hosts, hostvars):
    states = {}
    for host in hosts:
        facts = hostvars[host]
        states[host] = {
            "current": facts.get("deploy_release_before") or None,
            "target": facts.get("deploy_release_previous") or None,
            "history": facts.get("deploy_release_history") or [],
        }
    return describe_undo(states, list(hosts))


class FilterModule:
    def filters(self):
        return {"rollback_undoes": rollback_undoes}
