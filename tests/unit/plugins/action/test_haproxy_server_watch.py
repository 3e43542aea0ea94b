# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_server with watch: a server gets its traffic back, then is judged on a real HAProxy's counters, in one task."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.canary import watch as watch_task
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, started_lab  # noqa: F401 pylint: disable=unused-import
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import REPO, ansible_cli
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.test_canary_analysis import canary_behaviour, traffic

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)

# srv_admin_state as HAProxy reports it
READY = 0
DRAIN = 8
# a Python other than the controller's: the change and the watch then run as module runs
OTHER_PYTHON = "/usr/bin/python3"


@pytest.fixture
def lab(started_lab):
    started_lab.reset()
    original = started_lab.apps["web1"].RequestHandlerClass
    started_lab.send("set server app/web1 state drain")
    yield started_lab
    started_lab.apps["web1"].RequestHandlerClass = original


def give_back(lab, check_mode=False, python=None, task=None, **watch):
    """``haproxy_server`` through ansible: web1 ready at weight 1, then watched beside web2 (no watch with
    ``watch=None``), with the other options of ``task``."""
    watch = None if watch.get("watch", True) is None else dict(
        dict(canary=["web1"], stable=["web2"], interval=2, min_requests=5, names=["batch", "rest of the fleet"],
             on_fail_drain=["web1"]), **watch)
    args = dict(dict(socket=lab.admin_socket, backend="app", name="web1", state="ready", weight=1, wait=False,
                     **({"watch": watch} if watch is not None else {})), **(task or {}))
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local", "-m", "lastmile.deploy.haproxy_server",
                         "-a", json.dumps(args)]
    if python:
        # -vvv names each module the run sends to the host
        command += ["-e", "ansible_python_interpreter=%s" % python, "-vvv"]
    if check_mode:
        command.append("--check")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    marker = done.stdout.find("localhost | ")
    start = done.stdout.find("{", marker)
    assert marker >= 0 and start >= 0, done.stdout + done.stderr
    result = json.JSONDecoder().raw_decode(done.stdout[start:])[0]
    # ansible's ad hoc output says FAILED and leaves the key out
    if done.stdout[marker:start].startswith("localhost | FAILED"):
        result["failed"] = True
    result["modules_sent"] = re.findall(r"PUT .*/(AnsiballZ_\w+\.py)", done.stdout)
    return result


@pytest.mark.parametrize("python", [None, OTHER_PYTHON])
def test_a_server_given_back_is_watched_beside_the_rest(lab, python):
    if python and not os.access(python, os.X_OK):
        pytest.skip("%s is not installed" % python)
    with traffic(lab):
        result = give_back(lab, python=python)
    assert "failed" not in result, result.get("msg")
    assert result["changed"] is True and result["commands"], result
    assert lab.state()["web1"] == (READY, 1)
    watch = result["watch"]
    assert watch["verdict"] == "pass" and 2 <= watch["window_s"] < 3, watch
    assert watch["canary"]["servers"] == ["web1"] and watch["stable"]["servers"] == ["web2"]
    assert watch["canary"]["requests"] >= 5, watch
    if python:
        # one module run on the LB host changed the server and watched it
        assert result["modules_sent"] == ["AnsiballZ_haproxy_server.py"], result["modules_sent"]


@pytest.mark.parametrize("python", [None, OTHER_PYTHON])
def test_a_server_that_fails_users_is_drained_again_and_the_task_fails(lab, python):
    if python and not os.access(python, os.X_OK):
        pytest.skip("%s is not installed" % python)
    canary_behaviour(lab, every=1)
    with traffic(lab):
        result = give_back(lab, python=python)
    assert result["failed"] is True
    assert result["msg"].startswith("judging the LB counters of backend 'app' failed (batch web1 vs rest of the "
                                    "fleet web2 over 2."), result["msg"]
    assert "batch error rate 1.000" in result["msg"], result["msg"]
    assert result["watch"]["verdict"] == "fail"
    assert result["watch"]["fallback"] == "all traffic sent back to the stable servers"
    # given back, then drained again at once by on_fail_drain
    assert lab.state()["web1"][0] == DRAIN


@pytest.mark.parametrize("watch, expected", [
    (dict(max_error_rate=2), "watch: max_error_rate is 2.0; expected a number in [0, 1]"),
    (dict(socket="/tmp/other.sock"), "watch: socket: the watch reads this task's HAProxy, leave them out"),
    (dict(bogus=1), "watch: Unsupported parameters for (lastmile.deploy.canary_analysis) module: bogus"),
    (dict(interval="soon"), "watch: argument 'interval' is of type"),
    # a window of no time would be judged only after the server took its traffic back
    (dict(interval=0), "watch: interval is 0.0; expected a number of seconds > 0"),
])
def test_options_the_watch_would_refuse_fail_before_anything_is_sent(lab, watch, expected):
    result = give_back(lab, **watch)
    assert result["failed"] is True and result["msg"].startswith(expected), result["msg"]
    assert "commands" not in result
    assert lab.state()["web1"][0] == DRAIN


def test_check_mode_changes_nothing_and_watches_nothing(lab):
    result = give_back(lab, check_mode=True)
    assert "failed" not in result, result.get("msg")
    assert result["changed"] is True and "watch" not in result
    assert lab.state()["web1"][0] == DRAIN


def test_a_watch_that_breaks_keeps_what_the_change_sent(lab, monkeypatch):
    def broken(options, check_mode):
        raise RuntimeError("counter parser bug")

    monkeypatch.setattr(watch_task, "judge_step", broken)
    params = dict(socket=lab.admin_socket, backend="app", name=["web1"], state="ready", weight=1, weights=None, wait=False,
                  wait_timeout=5.0, wait_interval=0.2, min_serving=0, batch=[],
                  watch=dict(canary=["web1"], stable=["web2"], interval=1))
    result = watch_task.change_and_watch(params, False, False, [])
    assert result["failed"] is True and result["msg"] == ("judging the LB counters failed unexpectedly: RuntimeError: "
                                                          "counter parser bug"), result
    # the server was given back: the result says so
    assert result["changed"] is True and result["commands"], result
    assert lab.state()["web1"] == (READY, 1)


def test_the_module_refuses_watch_options_before_anything_is_sent(lab):
    # what the module run on the LB host does on its own, without the action's check first
    params = dict(socket=lab.admin_socket, backend="app", name=["web1"], state="ready", weight=1, weights=None, wait=False,
                  wait_timeout=5.0, wait_interval=0.2, min_serving=0, batch=[], watch=dict(canary=["web1"], interval=-1))
    with pytest.raises(watch_task.WatchOptionsError, match=r"^watch: interval is -1\.0; expected a number of seconds > 0"):
        watch_task.change_and_watch(params, False, False, [])
    assert lab.state()["web1"][0] == DRAIN
