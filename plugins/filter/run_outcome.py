# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``lastmile.deploy.run_outcome`` filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: run_outcome
short_description: Judge what a run ended as from what its hosts say at the end
version_added: 0.3.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
description:
  - V(succeeded) when no step failed and every host ends on one release recorded as succeeded (with O(groups), each
    group on one release, as the colours of blue-green do; an idle colour may end on a release recorded as rolled
    back), not on one pending, failed or unrecorded.
  - V(rolled_back) when a step failed and every host is back on the release it had before the run, with no problem
    while putting it back.
  - V(failed) otherwise - a failure before any change, a restore with problems, a host that could not be read, hosts
    left on different releases.
  - 'Reads, for each host: C(lock_given_back.releases_state) (its release and status once the deployment lock was
    given back), C(deploy_release_before), C(deploy_failure), C(deploy_restore_failure), and whether the run switched
    it (C(deploy_switched), C(service_activate.release.switched)); a run whose restore ran has C(deploy_failure_message).
    Only a host the run switched must end on a release recorded as succeeded.'
options:
  _input:
    description: Every host of the run, C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  alive:
    description: The hosts still in the play, C(ansible_play_hosts); the others failed or became unreachable.
    type: list
    elements: str
    required: true
  groups:
    description: 'Groups of hosts judged one by one, for example the colours of blue-green: V({"blue": ["b1"], "green": ["g1"]}).'
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Hosts left on different releases are no success (facts as the hosts would hold them, here written out)
  ansible.builtin.debug:
    msg: >-
      {{ (['web1', 'web2'] | lastmile.deploy.run_outcome({
           'web1': {'lock_given_back': {'releases_state': {'current': '1.0.0', 'current_status': 'succeeded'}}},
           'web2': {'lock_given_back': {'releases_state': {'current': '1.1.0', 'current_status': 'succeeded'}}}},
           ['web1', 'web2'])).problems }}
  # => ['the hosts are on different releases: 1.0.0, 1.1.0']

- name: Judge the run once its hosts gave the lock back
  ansible.builtin.set_fact:
    run_end: "{{ ansible_play_hosts_all | lastmile.deploy.run_outcome(hostvars, ansible_play_hosts) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The outcome, each host's release as text, and why the outcome is not the one hoped for.
  type: dict
  contains:
    outcome:
      description: V(succeeded), V(rolled_back) or V(failed).
      type: str
    releases:
      description: Host to C(<release> (<status>)), C(no release) or C(unknown (could not be read)).
      type: dict
    problems:
      description: What keeps the run from V(succeeded) or V(rolled_back).
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.lastmile.deploy.plugins.module_utils.run.outcome import HostEnd, judge


def _end(facts) -> HostEnd:
    given_back = facts.get("lock_given_back")
    state = given_back.get("releases_state") if isinstance(given_back, dict) else None
    readable = isinstance(state, dict) and not given_back.get("unreachable")
    return HostEnd(
        release=state.get("current") if readable else None,
        status=state.get("current_status") if readable else None,
        readable=readable,
        before=facts.get("deploy_release_before") or None,
        failure=str(facts.get("deploy_failure") or ""),
        restore_failure=str(facts.get("deploy_restore_failure") or ""),
        switched=_switched(facts),
    )


def _switched(facts) -> bool:
    """Whether the run switched the host: its strategy said so, or the switch and restart task did."""
    activate = facts.get("service_activate")
    release = activate.get("release") if isinstance(activate, dict) else None
    return bool(facts.get("deploy_switched")) or bool(isinstance(release, dict) and release.get("switched"))


def run_outcome(hosts, hostvars, alive, groups=None):
    """``{outcome, releases, problems}`` for the run over ``hosts``."""
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("run_outcome expects a list of hosts, got %r" % (hosts,))
    hosts = [str(host) for host in hosts]
    facts = {host: hostvars[host] for host in hosts}
    ends = {host: _end(facts[host]) for host in hosts}
    dropped = [host for host in hosts if host not in set(alive)]
    failed = bool(dropped) or any(end.failure for end in ends.values())
    restored = any(facts[host].get("deploy_failure_message") is not None for host in hosts)
    chosen = {str(name): [str(h) for h in members] for name, members in (groups or {}).items() if members}
    return judge(ends, failed, restored, chosen or None).as_dict()


class FilterModule:
    """Filters that report on a run."""

    def filters(self):
        return {"run_outcome": run_outcome}
