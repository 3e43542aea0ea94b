# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The strategy roles on their own, in a play of the user's, as their READMEs show: the whole run
in that one play (the engine's standalone start and finish), without the deploy playbook's lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FAST, ensure, history, lb_view

from fleet.playbook import REPO, ansible_env

FLEET_HOSTS = 2

PLAY = """---
- name: Deploy with a strategy role, as its README shows
  hosts: app
  gather_facts: false
  tasks:
    - name: Check everything before changing anything
      any_errors_fatal: true
      block:
        - name: Run the prechecks
          ansible.builtin.include_role:
            name: lastmile.deploy.precheck

    - name: Deploy
      ansible.builtin.include_role:
        name: lastmile.deploy.{strategy}
"""


def run_role(fleet, tmp_path: Path, strategy: str, version: str, mode: str = "good") -> subprocess.CompletedProcess:
    artifact = fleet.build_release(version, mode=mode)
    playbook = tmp_path / ("%s.yml" % strategy)
    playbook.write_text(PLAY.format(strategy=strategy))
    extra = {**FAST, "deploy_version": version, "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum}
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory_path), str(playbook),
         "-e", json.dumps(extra)],
        cwd=REPO, env=ansible_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("strategy, version", [("rolling", "v2"), ("recreate", "v3")])
def test_a_strategy_role_alone_moves_the_fleet_and_records_the_release(fleet, tmp_path, strategy, version):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = run_role(fleet, tmp_path, strategy, version)
    assert run.returncode == 0, run.stdout[-3000:]
    assert fleet.versions() == {host.name: version for host in fleet.hosts}
    for host in fleet.hosts:
        assert host.current_target() == "releases/%s" % version
        # recorded by the role's own finish: no lock records it here
        assert history(host)[-1]["version"] == version and history(host)[-1]["status"] == "succeeded"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_a_strategy_role_alone_puts_back_a_release_that_fails(fleet, tmp_path):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = run_role(fleet, tmp_path, "rolling", "v4bad", mode="nostart")
    assert run.returncode != 0
    assert "was rolled back" in run.stdout, run.stdout[-3000:]
    assert fleet.versions() == {host.name: "v1" for host in fleet.hosts}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v1"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_a_strategy_role_alone_moves_the_hosts_of_its_play_to_the_release_of_its_play(fleet, tmp_path):
    """--limit leaves a host out, and the release comes from the play's vars, over an inventory value that
    other hosts' hostvars carry: each host starts its run from its own view."""
    ensure(fleet, "v1")
    first, left_out = fleet.hosts[0], fleet.hosts[1]
    artifact = fleet.build_release("v5")
    playbook = tmp_path / "rolling-some.yml"
    # the release as a play variable, the way a user's play gives it
    playbook.write_text(PLAY.format(strategy="rolling").replace("  gather_facts: false\n",
                                                                "  gather_facts: false\n  vars:\n    deploy_version: v5\n"))
    # an inventory value the play's variable overrides
    inventory = tmp_path / "release.yml"
    inventory.write_text("all:\n  vars:\n    deploy_version: v1\n")
    extra = {**FAST, "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum}
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory_path), "-i", str(inventory),
         str(playbook), "-e", json.dumps(extra), "--limit", first.name],
        cwd=REPO, env=ansible_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert fleet.versions() == {first.name: "v5", left_out.name: "v1"}, run.stdout[-3000:]
    fleet.wait_lb(status="UP")
