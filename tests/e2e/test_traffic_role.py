# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic role on its own, in a play of the user's: a group drained in one call, misuse refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import ensure, lb_view

from fleet.playbook import REPO, ansible_env

FLEET_HOSTS = 2

PLAY = """---
- name: Drain through the traffic role
  hosts: app
  gather_facts: false
  tasks:
    - name: Read the load balancer state
      ansible.builtin.include_role:
        name: lastmile.deploy.traffic
        tasks_from: snapshot

    - name: Drain
      ansible.builtin.include_role:
        name: lastmile.deploy.traffic
        tasks_from: drain
      vars:
        deploy_traffic_hosts: {hosts}

    - name: Show what was drained
      ansible.builtin.debug:
        msg: "drained={{{{ deploy_drained_hosts | join(',') }}}}"
      run_once: true

  post_tasks:
    - name: Give the servers back
      ansible.builtin.include_role:
        name: lastmile.deploy.traffic
        tasks_from: restore
      vars:
        deploy_traffic_hosts: "{{{{ ansible_play_hosts_all }}}}"
        deploy_traffic_sender: "{{{{ ansible_play_hosts_all[0] }}}}"
      run_once: true
"""


def run_play(fleet, tmp_path: Path, hosts_expression: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "drain.yml"
    playbook.write_text(PLAY.format(hosts=hosts_expression))
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory_path), str(playbook),
         "-e", '{"deploy_app": "sample", "deploy_drain_timeout": 10}'],
        cwd=REPO, env=ansible_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)


def test_a_group_is_drained_in_one_call_and_listed_once_for_the_play(fleet, tmp_path):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = run_play(fleet, tmp_path, '"{{ ansible_play_hosts_all }}"')
    assert run.returncode == 0, run.stdout[-3000:]
    names = [host.name for host in fleet.hosts]
    drained = re.search(r'"msg": "drained=([^"]*)"', run.stdout)
    assert drained and sorted(drained.group(1).split(",")) == sorted(names), run.stdout[-3000:]
    # sent once, by the first host, for both servers
    drain = run.stdout.split("TASK [lastmile.deploy.traffic : Drain the batch", 1)[1].split("TASK [", 1)[0]
    assert drain.count("changed: [") == 1 and "changed: [%s " % names[0] in drain, drain
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_a_list_per_host_is_refused_naming_the_host_left_serving(fleet, tmp_path):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = run_play(fleet, tmp_path, '"{{ [inventory_hostname] }}"')
    first, second = (host.name for host in fleet.hosts)
    assert run.returncode != 0
    assert ("%s was not drained: the drain is sent once, for the deploy_traffic_hosts of the first host that "
            "includes it (%s)" % (second, first)) in run.stdout, run.stdout[-3000:]
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
