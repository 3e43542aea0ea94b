#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_start
short_description: Start a lastmile.deploy run from what the hosts and the load balancer said, judged once
version_added: 0.4.0
description:
  - The engine of lastmile.deploy runs it once per run, on the controller, after the deployment lock was taken on
    every host (M(lastmile.deploy.deploy_lock), registered as C(lock_taken)) and the load balancer was read. It
    judges those readings for every host together and returns the load-balancer state the run starts from.
  - Fails, naming each host and the cause, when the lock was not taken on a host (another run holds it, the host is
    unreachable, its Python cannot run the module), when a load-balancer host could not be read, when it does not
    know a host's server (O(servers)), or when the load-balancer hosts disagree on a server's
    admin state or weight. Nothing has changed at that point.
  - The load-balancer state before the run is what the load balancer shows, over which what a dead run read before
    it changed anything takes precedence (kept in the lock that run left, C(lock_taken.inherited.lb_before)); the
    hosts that run left out of rotation are named so that the engine gives them back first.
  - It also finds the hosts a dead run switched and never finished deploying, from each host's release state (their
    current release is still recorded C(pending)), and which of them this run puts back before anything else.
  - Runs on the controller only, as an action; it reads nothing on the hosts. Run it with C(run_once) and register
    its result; one C(ansible.builtin.set_fact) then gives every host of the play its facts of the run (facts a
    module returns rank below earlier C(set_fact) values, so a clean slate must be set that way), each host's server
    from RV(servers) and its release state from RV(releases).
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: It only judges what was read.
  connection:
    support: none
  delegation:
    support: none
    details: It runs on the controller whatever the host.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  app:
    description: The application, as the messages name it (C(deploy_app)).
    type: str
    required: true
  hosts:
    description: The hosts of the run, in play order (C(ansible_play_hosts)). Each host's C(lock_taken) is read from
      its host variables; a host without C(lock_taken) took no part in locking.
    type: list
    elements: str
    required: true
  lb:
    description:
      - The reading of the load balancer (the registered result of M(lastmile.deploy.haproxy_info)), or the registered
        result of that task looped over the LB hosts (C(results), each with its C(item)); omitted when the run has no
        load balancer (C(deploy_lb_provider=none)).
      - With several LB hosts, each must be readable and know every host's server, and they must agree on each
        server's admin state and weight, since the run gives each of them back the same state; a server is C(up)
        before the run only where every LB host saw it up.
    type: dict
  backend:
    description: The load-balancer backend, as the messages name it.
    type: str
    default: ""
  releases_from:
    description:
      - Where each host's release state is read from. V(lock), the reading the lock took
        (C(lock_taken.releases_state)). V(read), the host's C(release_read) (the C(read) entry point of the
        release role) where it read the host, else the lock's reading.
    type: str
    choices: [lock, read]
    default: lock
  servers:
    description:
      - Each host's server in the load balancer, C(deploy_lb_server) as each host sees it (the engine takes them from
        the check of the variables, C(precheck_variables.resolved)).
      - A host not named here is named by its C(deploy_lb_name) fact, else by its inventory name.
    type: dict
    default: {}
seealso:
  - module: lastmile.deploy.deploy_lock
  - module: lastmile.deploy.haproxy_info
"""

EXAMPLES = r"""
- name: Start the run from the lock and the load balancer
  lastmile.deploy.run_start:
    app: "{{ deploy_app }}"
    hosts: "{{ ansible_play_hosts }}"
    lb: "{{ traffic_read }}"
    backend: "{{ deploy_haproxy_backend }}"
    servers:
      web1: web1-blue
      web2: web2-blue
  register: run_started
  run_once: true

- name: Give every host its server and the load balancer state before the run
  ansible.builtin.set_fact:
    deploy_lb_name: "{{ run_started.servers[run_host] }}"
    deploy_lb_before: "{{ run_started.lb_before }}"
    deploy_lb_left_out_hosts: "{{ run_started.left_out_hosts }}"
  loop: "{{ ansible_play_hosts }}"
  loop_control:
    loop_var: run_host
  delegate_to: "{{ run_host }}"
  delegate_facts: true
  run_once: true
"""

RETURN = r"""
lb_before:
  description: Each server's state before the run (C(admin), C(weight), C(up), ...), what the engine restores; what a
    dead run read before it changed anything wins over what the load balancer shows now.
  returned: success
  type: dict
  sample: {web1: {admin: ready, weight: 100, up: true}}
lb_now:
  description: Each server's state as the load balancer shows it now.
  returned: success
  type: dict
  sample: {web1: {admin: maint, weight: 100, up: true}}
lb_inherited:
  description: What a dead run read before it changed anything, from the locks it left.
  returned: success
  type: dict
  sample: {web1: {admin: ready, weight: 100, up: true}}
left_out_hosts:
  description: The hosts a dead run left out of rotation or at another weight, in play order.
  returned: success
  type: list
  elements: str
  sample: [web1]
run_id:
  description:
    - The id of this run, C(<UTC time>-<6 random hex digits>). Each switch the run makes records it in the host's
      history, so that a rollback undoes the hosts of one run.
  returned: success
  type: str
  sample: 20261207T081502Z-3fa2c1
unverified_hosts:
  description: The hosts whose current release a dead run switched and never verified (still recorded C(pending),
    and not a restore), in play order.
  returned: success
  type: list
  elements: str
  sample: [web1, web3]
recovered_hosts:
  description: Of RV(unverified_hosts), those under this run's lock (no run is still switching them) that have a
    release deployed successfully before, which the run puts back before it changes anything else.
  returned: success
  type: list
  elements: str
  sample: [web1]
recovered_message:
  description: What the report says about the hosts of RV(unverified_hosts) under this run's lock, each with the
    release it is on and where it goes back to; empty when there is none.
  returned: success
  type: str
  sample: "A dead run left hosts on a release it never finished deploying: web1: v8 -> v7; put back before this run
    changed anything else."
servers:
  description: Each host's server in the load balancer, as the run names it (O(servers), else the host's
    C(deploy_lb_name) fact, else its inventory name).
  returned: success
  type: dict
  sample: {web1: web1-blue, web2: web2-blue}
releases:
  description: Each host's release state as the run starts from it (O(releases_from)), the form of
    C(lock_taken.releases_state) (C(current), C(current_status), C(previous), C(history), C(checksums)); null for a
    host that was not read.
  returned: success
  type: dict
  sample: {web1: {current: "1.4.1", current_status: succeeded, previous: "1.4.0", history: [], checksums: {}}}
"""
