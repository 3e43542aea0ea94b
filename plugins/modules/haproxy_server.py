#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Drain, ready, put into maintenance and weight HAProxy servers
description:
  - Sets the admin state (V(ready), V(drain), V(maint)) and the weight of servers in one HAProxy
    backend through the runtime API (the admin stats socket).
  - Reads the backend first and sends only the commands needed to reach the requested state, all in
    one round trip; re-running with the same options changes nothing.
  - When a new weight comes with O(state=ready), the weight is set before the server is made ready.
  - With O(wait), waits after O(state=drain) or O(state=maint) until the servers hold no sessions, and
    after O(state=ready) until HAProxy's health checks report them UP.
  - Runtime changes are lost when HAProxy reloads unless its configuration uses
    C(server-state-file) and C(load-server-state-from-file).
version_added: 0.1.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the backend and reports what would change; sends no command and does not wait.
  diff_mode:
    support: full
    details: Shows C(admin) and C(weight) of each server acted on, before and after.
  platform:
    support: full
    platforms: posix
    details: Runs where the HAProxy socket is reachable; usually delegated to the load balancer host.
options:
  socket:
    description:
      - HAProxy runtime API address with C(level admin), either a unix socket path or C(host:port)
        (C([v6addr]:port) for IPv6).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: Name of the HAProxy backend holding the servers.
    type: str
    required: true
  name:
    description:
      - Servers to act on.
      - Required unless O(weights) is given; then O(state) applies to the servers in O(weights).
    type: list
    elements: str
    aliases: [names, server]
  state:
    description:
      - Admin state to set. V(ready) takes traffic, V(drain) takes no new traffic but keeps its
        sessions (and persistent clients), V(maint) takes nothing new and is not health checked.
      - Left as it is when omitted.
    type: str
    choices: [ready, drain, maint]
  weight:
    description: Weight (0-256) to set on every server in O(name).
    type: int
  weights:
    description:
      - Weight per server, as a mapping of server name to weight (0-256).
      - Mutually exclusive with O(weight).
    type: dict
  servers:
    description:
      - Several servers, each with its own change, as a mapping of server name to C(state) (as O(state)),
        C(weight) (as O(weight)) and C(wait) (as O(wait), which it overrides for that server), for a batch whose
        servers go back to different states and weights in one round trip.
      - Mutually exclusive with O(name), O(state), O(weight) and O(weights).
    type: dict
    version_added: 0.4.0
  wait:
    description:
      - After O(state=drain) or O(state=maint), wait until the servers hold no current or queued
        sessions; a server that is DOWN counts as drained.
      - After O(state=ready), wait until HAProxy reports the servers fully C(UP) (or C(no check)); C(UP 1/3)
        does not count, as HAProxy shows it while checks fail and right after maintenance, before a
        check has confirmed the server.
      - Waiting happens even when nothing changed, since an earlier drain may still hold sessions.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait before failing.
    type: float
    default: 60
  wait_interval:
    description: Seconds between two reads of the backend while waiting.
    type: float
    default: 0.2
  min_serving:
    description:
      - Servers of the backend that must keep serving (seen up, admin state C(ready), weight above 0) when this task
        takes servers out (O(state=drain), O(state=maint) or weight 0); V(0) sets no floor.
      - The servers in O(name) and O(batch) do not count (with O(then_drain), those in O(then_drain) and
        O(batch)). Before changing anything, the task waits up to
        O(wait_timeout) for enough of the others to serve, then fails naming the numbers and the servers not serving,
        with RV(below_min_serving), having changed nothing. In check mode it does not wait.
    type: int
    default: 0
    version_added: 0.4.0
  batch:
    description:
      - Other servers taken out at the same time as O(name), or as O(then_drain) when given (the rest of a batch
        drained host by host, in parallel); they do not count toward O(min_serving).
    type: list
    elements: str
    default: []
    version_added: 0.4.0
  watch:
    description:
      - After the change and its wait, judge servers on this HAProxy's own counters over a window, with these
        options of M(lastmile.deploy.canary_analysis) (C(canary), C(stable), C(interval), the limits, C(names),
        C(on_fail_drain) and the others, by their names; its C(socket) and C(backend) are this task's and are
        not given here), so that one task gives a server its traffic back and watches it serve.
      - The options are checked before anything is sent; options the analysis would refuse fail the task then.
      - The task fails as that module fails (a failed verdict, counters that cannot be read), with its figures in
        RV(watch), after it applied C(on_fail_drain) and C(on_fail_weights).
      - Runs where the change runs, in the same way (in the task's own process on the controller, else in the same
        module run on the delegated host). Check mode runs no watch.
    type: dict
    version_added: 0.4.0
  then_drain:
    description:
      - Servers to drain once the change, its wait and the O(watch) went well, in the same task, so that one task
        gives a batch its traffic back and takes the next batch out. When the change or the watch fails, they are
        left as they are.
      - Drained as O(state=drain) drains them. O(min_serving) applies to them only, not to the change before (the
        servers in O(then_drain) and O(batch) do not count; the servers just given back do), and the task waits for
        enough servers to serve, then for their sessions to end, up to O(drain_timeout) each, whatever O(wait) says.
      - A failure of this part fails the task with a message starting C(then_drain:), with every command sent in
        RV(commands).
    type: list
    elements: str
    default: []
    version_added: 0.4.0
  drain_timeout:
    description:
      - Seconds to wait, before failing, for enough servers to serve (O(min_serving)) and then for the sessions of
        O(then_drain) to end.
    type: float
    default: 60
    version_added: 0.4.0
  sent_by:
    description:
      - The hosts that run this same task together, for one batch (usually C(ansible_play_batch) less the hosts
        that failed it), this host among them. The first of them sends the task, in one run per delegated host
        (per loop item); the others wait in their own worker processes for its result and take it as theirs,
        without a run of their own, so that a batch's servers are given back, watched and followed by the next
        batch's drain in one round trip to each load balancer.
      - Every host must give the same list, in the order the strategy starts them (C(ansible_play_batch) is), and
        every host in it must run the task. The others wait for the first as long as its worker process lives (its
        own timeouts bound it); they fail, saying why, when it has not started the task within a minute, or when its
        process ended without a result. The result is shared through a file in the controller's private temporary
        directory of the ansible-playbook process, named after the task, these hosts and the delegated host (and
        loop item), so one task sent twice for the same hosts in one ansible-playbook process (an include in a loop)
        would read the first result.
      - The task then fails on a host as follows. A failed O(watch) with C(each) fails the hosts whose
        O(own_server) failed on its own, and no other. A failure of O(then_drain) fails the first host, which sent
        it; the others return it as RV(then_drain_failed). Any other failure (the change itself, an unreachable
        load balancer, a watch that could not judge) fails every host.
      - Handled by the action plugin on the controller; the module itself ignores it.
    type: list
    elements: str
    version_added: 0.4.0
  own_server:
    description:
      - With O(sent_by), the server of the host running the task, whose own verdict in O(watch) (with C(each))
        decides whether the task fails on this host.
      - Handled by the action plugin on the controller; the module itself ignores it.
    type: str
    version_added: 0.4.0
notes:
  - When the task is delegated (to the load-balancer host) and that host cannot be reached, the task
    fails with a message starting C(unreachable:) instead of making the task's own host
    unreachable, so that host stays in the play and its rescue runs.
  - Needs only the Python standard library on the host it runs on.
seealso:
  - module: lastmile.deploy.haproxy_info
"""

EXAMPLES = r"""
- name: Take this host out of the pool and wait for its sessions to end
  lastmile.deploy.haproxy_server:
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: drain
    wait_timeout: 120
  delegate_to: "{{ groups['lb'][0] }}"

- name: Put it back at weight 100 once it is healthy
  lastmile.deploy.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: ready
    weight: 100
  delegate_to: "{{ groups['lb'][0] }}"

- name: Drain this host, unless that would leave fewer than 3 other servers serving
  lastmile.deploy.haproxy_server:
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: drain
    min_serving: 3
    batch: "{{ ansible_play_batch }}"
  delegate_to: "{{ groups['lb'][0] }}"

- name: Give this host its traffic back, then watch it serve beside web2 and web3 for 5 seconds
  lastmile.deploy.haproxy_server:
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: ready
    weight: 100
    watch:
      canary: ["{{ inventory_hostname }}"]
      stable: [web2, web3]
      interval: 5
      names: [batch, rest of the fleet]
      on_fail_drain: ["{{ inventory_hostname }}"]
  delegate_to: "{{ groups['lb'][0] }}"

- name: Give this host its traffic back, watch it, then take web3 out of the pool
  lastmile.deploy.haproxy_server:
    backend: myapp
    name: "{{ inventory_hostname }}"
    state: ready
    watch:
      canary: ["{{ inventory_hostname }}"]
      stable: [web2]
      interval: 5
    then_drain: [web3]
    min_serving: 1
    drain_timeout: 120
  delegate_to: "{{ groups['lb'][0] }}"

- name: >-
    Give the batch its traffic back in one run that its first host sends for all, watch each server on its own,
    then take the next batch out
  lastmile.deploy.haproxy_server:
    backend: myapp
    # each server's state, weight and wait, as read before the batch went out
    servers:
      web1: {state: ready, weight: 100, wait: true}
      web2: {state: ready, weight: 100, wait: true}
    watch:
      canary: "{{ ansible_play_batch }}"
      each: true
      interval: 5
      names: [batch, rest of the fleet]
      on_fail_drain: "{{ ansible_play_batch }}"
    then_drain: "{{ next_batch }}"
    batch: "{{ next_batch }}"
    min_serving: 2
    sent_by: "{{ ansible_play_batch }}"
    own_server: "{{ inventory_hostname }}"
  vars:
    next_batch: [web5, web6]
  delegate_to: "{{ groups['lb'][0] }}"

- name: Shift canary traffic over a TCP admin socket
  lastmile.deploy.haproxy_server:
    socket: 10.0.0.5:9999
    backend: myapp
    weights:
      web1: 10
      web2: 90
      web3: 90
  delegate_to: localhost
"""

RETURN = r"""
servers:
  description:
    - Every server of the backend after the change and any wait, by name.
    - In check mode, the servers as they would be (admin and weight; other fields as read).
  returned: always
  type: dict
  sample:
    web1:
      backend: myapp
      name: web1
      address: 10.0.0.11
      port: 8080
      admin: drain
      status: DRAIN
      up: true
      weight: 100
      initial_weight: 100
      sessions: 0
      queued: 0
      total_sessions: 5120
      responses_2xx: 5003
      responses_5xx: 2
      requests_total: 5120
      response_time_ms: 12
      total_time_ms: 14
      check_status: L7OK
below_min_serving:
  description: True when the task failed because taking the servers out would leave fewer than O(min_serving) serving.
  returned: on that failure
  type: bool
  sample: true
commands:
  description:
    - Runtime API commands sent; empty in check mode and when nothing changed.
    - Also returned, with C(changed), when the task fails after the commands were sent, because a wait
      fails, because HAProxy refuses some of them (C(changed) then says whether it applied any), or because
      HAProxy closes the connection before its answer to them is complete (a reload does). In that last
      case the task fails saying that the commands were sent and that reading the backend back failed,
      since HAProxy may have applied them.
    - Empty when the task fails before anything was sent, for instance when the socket refuses the connection.
  returned: always
  type: list
  elements: str
  sample:
    - set server myapp/web1 state drain
drained:
  description:
    - With O(then_drain), the servers it took out; empty when nothing was sent for them (the change or the watch
      failed, or the floor held them back). Also returned when the task failed while taking them out.
  returned: when O(then_drain) is given and the change and the watch went well
  type: list
  elements: str
  version_added: 0.4.0
  sample: [web3]
then_drain_failed:
  description:
    - With O(sent_by), on a host other than the first, why O(then_drain) failed in the run the first host sent
      (which fails that host, not this one).
  returned: on that failure
  type: str
  version_added: 0.4.0
  sample: "app1: then_drain: backend 'myapp': 1 of 3 servers would serve, fewer than min_serving 2"
watch:
  description:
    - With O(watch), the verdict and figures M(lastmile.deploy.canary_analysis) returns (C(verdict), C(reasons),
      C(window_s), the C(canary) and C(stable) figures, and C(fallback) on a failed verdict).
  returned: when O(watch) is given and the change was made, also when the watch failed
  type: dict
  version_added: 0.4.0
  sample:
    verdict: pass
    reasons: []
    window_s: 3.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.watch import change_and_watch
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.tasks import SERVER_ARGUMENT_SPEC, SERVER_SPEC_RULES


def main() -> None:
    module = AnsibleModule(argument_spec=SERVER_ARGUMENT_SPEC, supports_check_mode=True, **SERVER_SPEC_RULES)
    warnings = []
    try:
        result = change_and_watch(module.params, module.check_mode, module._diff, warnings)
    except LastmileError as exc:
        result = failure(exc)
    for warning in warnings:
        module.warn(warning)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
