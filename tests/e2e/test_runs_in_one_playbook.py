# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several runs in one ansible-playbook (a site playbook importing the collection's playbooks): each
run starts from a clean slate, never from what the run before it left in the hosts' facts."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import FAST, ensure, history, lb_view

from fleet.playbook import REPO, ansible_env

FLEET_HOSTS = 2


def import_of(playbook: str, **variables) -> str:
    return "- ansible.builtin.import_playbook: lastmile.deploy.%s\n  vars: %s\n" % (playbook, json.dumps(variables))


def release_vars(fleet, version: str) -> dict:
    artifact = fleet.build_release(version)
    return {"deploy_version": version, "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum}


def test_a_rollback_then_a_recreate_then_a_rolling_run_each_end_on_their_own_release(fleet, tmp_path):
    ensure(fleet, "v1", "v2")
    before = lb_view(fleet)
    site = tmp_path / "site.yml"
    site.write_text("---\n"
                    + import_of("rollback")
                    + import_of("deploy", deploy_strategy="recreate", **release_vars(fleet, "v3"))
                    + import_of("deploy", deploy_strategy="rolling", **release_vars(fleet, "v4")))
    run = subprocess.run(
        [str(sys.executable.rsplit("/", 1)[0] + "/ansible-playbook"), "-i", str(fleet.inventory_path), str(site),
         "-e", json.dumps(FAST)],
        cwd=REPO, env=ansible_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:]
    # the rollback went back to v1, the recreate and the rolling run each moved every host
    assert fleet.versions() == {host.name: "v4" for host in fleet.hosts}
    for host in fleet.hosts:
        statuses = [(entry["version"], entry["status"]) for entry in history(host)]
        assert ("v2", "rolled_back") in statuses and statuses[-1] == ("v4", "succeeded"), statuses
        assert ("v3", "succeeded") in statuses, statuses
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
