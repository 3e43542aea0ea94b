# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_server with then_drain: a batch gets its traffic back (and is watched), then the next servers are taken
out, in one task, on a real HAProxy; the next servers are left alone when anything before fails."""

from __future__ import annotations

import os

import pytest

# lab: web1 drained, web2 serving, on the lab's HAProxy
from ansible_collections.lastmile.deploy.tests.unit.plugins.action.test_haproxy_server_watch import (  # noqa: F401 pylint: disable=unused-import
    DRAIN,
    OTHER_PYTHON,
    READY,
    give_back,
    lab,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, started_lab  # noqa: F401 pylint: disable=unused-import
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.test_canary_analysis import canary_behaviour, traffic

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)


@pytest.mark.parametrize("python", [None, OTHER_PYTHON])
def test_the_batch_is_given_back_and_watched_then_the_next_is_taken_out(lab, python):
    if python and not os.access(python, os.X_OK):
        pytest.skip("%s is not installed" % python)
    with traffic(lab):
        result = give_back(lab, python=python, task=dict(then_drain=["web2"], min_serving=1, drain_timeout=10))
    assert "failed" not in result, result.get("msg")
    assert result["watch"]["verdict"] == "pass", result["watch"]
    assert result["commands"] == ["set server app/web1 weight 1", "set server app/web1 state ready",
                                  "set server app/web2 state drain"], result["commands"]
    assert lab.state()["web1"] == (READY, 1) and lab.state()["web2"][0] == DRAIN
    assert result["drained"] == ["web2"]
    # the servers as last read, after the drain
    assert result["servers"]["web2"]["admin"] == "drain"
    if python:
        assert result["modules_sent"] == ["AnsiballZ_haproxy_server.py"], result["modules_sent"]


def test_a_batch_that_fails_its_watch_leaves_the_next_one_serving(lab):
    canary_behaviour(lab, every=1)
    with traffic(lab):
        result = give_back(lab, task=dict(then_drain=["web2"], min_serving=1))
    assert result["failed"] is True and result["msg"].startswith("judging the LB counters of backend 'app' failed"), \
        result["msg"]
    assert "set server app/web2 state drain" not in result["commands"] and "drained" not in result
    # the failing server drained again, the next one still serving
    assert lab.state()["web1"][0] == DRAIN and lab.state()["web2"][0] == READY


def test_the_next_servers_are_not_taken_out_below_the_floor(lab):
    # web1 back, web3 DOWN, web4 in maintenance: taking web2 out would leave 1 serving, not 2
    result = give_back(lab, watch=None, task=dict(then_drain=["web2"], min_serving=2, drain_timeout=0.5, wait_timeout=5))
    assert result["failed"] is True, result
    assert result["msg"].startswith("then_drain: backend 'app': taking web2 out would leave 1 of "), result["msg"]
    assert result["msg"].endswith("nothing was changed"), result["msg"]
    assert result["below_min_serving"] is True and result["drained"] == []
    # what was sent before is still said: web1 got its traffic back
    assert result["changed"] is True and result["commands"] == ["set server app/web1 weight 1",
                                                                "set server app/web1 state ready"], result
    assert lab.state()["web1"] == (READY, 1) and lab.state()["web2"][0] == READY


def test_check_mode_takes_nothing_out(lab):
    result = give_back(lab, check_mode=True, task=dict(then_drain=["web2"]))
    assert "failed" not in result, result.get("msg")
    assert result["changed"] is True and result["commands"] == []
    assert result["servers"]["web2"]["admin"] == "drain"
    assert lab.state()["web1"][0] == DRAIN and lab.state()["web2"][0] == READY


def test_the_floor_guards_only_the_servers_taken_out_next(lab):
    # web1 put back into maintenance (as it was before a run) is no server taken out by this task's floor
    result = give_back(lab, watch=None, task=dict(state="maint", then_drain=["web2"], min_serving=3, drain_timeout=0.5))
    assert result["failed"] is True and result["msg"].startswith("then_drain: backend 'app': taking web2 out"), result
    assert sorted(result["commands"]) == ["set server app/web1 state maint", "set server app/web1 weight 1"], result
    assert lab.state()["web1"][0] != READY and lab.state()["web2"][0] == READY


@pytest.mark.parametrize("name", ["web9", "web2\nshutdown sessions server app/web1", "web2;disable server app/web1"])
def test_a_next_server_haproxy_does_not_know_is_refused_with_nothing_sent_for_it(lab, name):
    result = give_back(lab, watch=None, task=dict(then_drain=[name], min_serving=1, drain_timeout=0.5))
    assert result["failed"] is True and result["msg"].startswith("then_drain: "), result
    # the message names the value refused (escaped, as a name with a line break is)
    assert repr(name)[1:-1] in result["msg"], result["msg"]
    # web1 got its traffic back; nothing was sent for the refused name, nothing else was touched
    assert sorted(result["commands"]) == ["set server app/web1 state ready", "set server app/web1 weight 1"], result
    assert result["drained"] == []
    assert lab.state()["web1"] == (READY, 1) and lab.state()["web2"][0] == READY
