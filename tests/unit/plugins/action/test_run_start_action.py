# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_start through the ansible CLI: each host's server and release state, as the engine writes them into the run state."""

from __future__ import annotations

import json
import subprocess

from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import REPO, ansible_cli

STATE = {"current": "1.4.1", "current_status": "succeeded", "previous": "1.4.0", "history": [],
         "checksums": {"1.4.1": "sha256:" + "b" * 64}}
LOCK = {"holder": {"run": "r1"}, "changed": False, "releases_state": STATE}
READING = {"servers": {"shop-a": {"admin": "ready", "weight": 100, "up": True}}}


def start(host_vars, **args):
    """Run the action for localhost with ``host_vars`` as its variables; return (rc, result)."""
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local", "-m", "lastmile.deploy.run_start",
                         "-a", json.dumps(dict(args, app="shop", hosts=["localhost"], backend="shop")),
                         "-e", json.dumps(dict(host_vars, lock_taken=LOCK))]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    begin = done.stdout.find("{", done.stdout.find("localhost | "))
    assert begin >= 0, done.stdout + done.stderr
    return done.returncode, json.JSONDecoder().raw_decode(done.stdout[begin:])[0]


def test_the_servers_given_name_each_host_in_the_load_balancer():
    rc, result = start({}, lb=READING, servers={"localhost": "shop-a"})
    assert rc == 0, result
    assert result["servers"] == {"localhost": "shop-a"}
    assert result["lb_before"] == {"shop-a": {"admin": "ready", "weight": 100, "up": True}}
    # the release state the lock read, which the run state is written from
    assert result["releases"] == {"localhost": STATE}


def test_without_servers_a_host_is_named_by_its_fact_else_its_inventory_name():
    rc, result = start({"deploy_lb_name": "shop-a"}, lb=READING)
    assert rc == 0 and result["servers"] == {"localhost": "shop-a"}, result
    rc, result = start({}, lb=READING)
    assert rc != 0
    assert result["msg"].startswith("The load balancer does not know every host, nothing was changed: localhost: "
                                    "server \"localhost\" is not in HAProxy backend \"shop\""), result["msg"]
    # a name the check left empty is no name
    rc, result = start({"deploy_lb_name": "shop-a"}, lb=READING, servers={"localhost": ""})
    assert rc == 0 and result["servers"] == {"localhost": "shop-a"}, result
