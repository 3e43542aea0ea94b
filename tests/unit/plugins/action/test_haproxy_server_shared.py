# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_server with sent_by: the hosts of a batch share one run of the task on a real HAProxy, and each fails
only for what is its own."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from ansible_collections.lastmile.deploy.tests.unit.plugins.action.test_haproxy_server_watch import DRAIN, OTHER_PYTHON, READY, lab  # noqa: F401 pylint: disable=unused-import
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, started_lab  # noqa: F401 pylint: disable=unused-import
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import REPO, ansible_cli
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.test_canary_analysis import canary_behaviour, traffic

pytestmark = [pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN),
              pytest.mark.skipif(not os.access(OTHER_PYTHON, os.X_OK), reason="%s is not installed" % OTHER_PYTHON)]

# each host of the batch and its server
OWN = {"h1": "web1", "h2": "web2"}


def run_batch(lab, tmp_path, **task):
    """haproxy_server as h1 and h2 run it together (sent_by both, each its own server), as module runs on a Python
    other than the controller's: {host: result}, and the modules sent, by -vvv."""
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("".join("%s own=%s\n" % pair for pair in OWN.items()))
    args = dict(dict(socket=lab.admin_socket, backend="app", sent_by=list(OWN), own_server="{{ own }}"), **task)
    ansible, env = ansible_cli()
    command = ansible + ["all", "-i", str(inventory), "-c", "local", "-m", "lastmile.deploy.haproxy_server",
                         "-a", json.dumps(args), "-e", "ansible_python_interpreter=%s" % OTHER_PYTHON, "-vvv"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    results = {}
    for found in re.finditer(r"^(h\d) \| (\w+!?) => ", done.stdout, re.M):
        result = json.JSONDecoder().raw_decode(done.stdout[found.end():])[0]
        if found.group(2) == "FAILED!":
            result["failed"] = True
        results[found.group(1)] = result
    assert set(results) == set(OWN), done.stdout + done.stderr
    return results, re.findall(r"PUT .*/(AnsiballZ_\w+\.py)", done.stdout)


def test_one_run_gives_the_whole_batch_back_each_server_to_its_own_state(lab, tmp_path):
    results, sent = run_batch(lab, tmp_path, servers={"web1": {"state": "ready", "weight": 7},
                                                      "web2": {"weight": 15, "wait": False}})
    assert sent == ["AnsiballZ_haproxy_server.py"], sent
    for host, result in results.items():
        assert "failed" not in result, (host, result.get("msg"))
        assert result["changed"] is True, host
    assert results["h1"]["commands"] == results["h2"]["commands"]
    assert sorted(results["h1"]["commands"]) == [
        "set server app/web1 state ready", "set server app/web1 weight 7", "set server app/web2 weight 15"]
    assert lab.state()["web1"] == (READY, 7) and lab.state()["web2"][1] == 15


def test_a_server_that_fails_its_own_watch_fails_its_own_host_only(lab, tmp_path):
    canary_behaviour(lab, every=1)
    with traffic(lab):
        results, sent = run_batch(lab, tmp_path, servers={"web1": {"state": "ready", "weight": 1, "wait": False}},
                                  watch=dict(canary=["web1"], stable=["web2"], each=True, interval=2, min_requests=5,
                                             names=["batch", "rest of the fleet"], on_fail_drain=["web1"]))
    assert sent == ["AnsiballZ_haproxy_server.py"], sent
    assert results["h1"]["failed"] is True
    assert results["h1"]["msg"].startswith("judging the LB counters of backend 'app' failed (batch web1 vs rest of "
                                           "the fleet web2 over 2."), results["h1"]["msg"]
    # web2 was not judged badly: its host has the same figures, and does not fail
    assert "failed" not in results["h2"] and "msg" not in results["h2"], results["h2"]
    assert results["h2"]["watch"] == results["h1"]["watch"] and results["h2"]["watch"]["failed_servers"] == ["web1"]
    assert lab.state()["web1"][0] == DRAIN


def test_the_next_batch_held_back_by_the_floor_fails_the_host_that_sent_it(lab, tmp_path):
    results, sent = run_batch(lab, tmp_path, servers={"web1": {"state": "ready", "weight": 1, "wait": False}},
                              then_drain=["web2"], min_serving=3, drain_timeout=0.3)
    assert sent == ["AnsiballZ_haproxy_server.py"], sent
    assert results["h1"]["failed"] is True and results["h1"]["msg"].startswith("then_drain: backend 'app': "), results["h1"]
    assert "failed" not in results["h2"], results["h2"]
    assert results["h2"]["then_drain_failed"] == "h1: %s" % results["h1"]["msg"]
    assert results["h1"]["drained"] == results["h2"]["drained"] == []
    assert lab.state()["web1"] == (READY, 1) and lab.state()["web2"][0] == READY


@pytest.mark.parametrize("sent_by, expected", [
    (["h9"], "sent_by ['h9']: expected a list of the hosts that run this task together, %s among them"),
    ("h1,h2", "sent_by 'h1,h2': expected a list of the hosts that run this task together, %s among them"),
])
def test_senders_that_leave_the_host_out_are_refused_before_anything_is_sent(lab, tmp_path, sent_by, expected):
    before = lab.state()
    results, sent = run_batch(lab, tmp_path, servers={"web1": {"state": "ready"}}, sent_by=sent_by)
    for host, result in results.items():
        assert result["failed"] is True and result["msg"] == expected % host, result
    assert sent == [] and lab.state() == before
