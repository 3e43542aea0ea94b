# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check on the controller probes from the task's own process; anywhere else the module runs."""

from __future__ import annotations

import json
import sys
from unittest.mock import MagicMock

import pytest

from ansible_collections.lastmile.deploy.plugins.action.health_check import MODULE, ActionModule
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer, closed_port_url
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible

TOKEN = "hc-action-5d1e02a9"


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def test_on_the_controller_the_probe_runs_in_the_task_process(server):
    rc, result = run_ansible("health_check", dict(url=server.url("/health"), samples=4, sample_interval=0))
    assert rc == 0, result
    assert result["healthy"] is True and result["stats"]["count"] == 4
    assert server.counts["/health"] == 5  # the poll that found it healthy, then the samples
    # a module run always answers with its invocation; the task's own process does not
    assert "invocation" not in result


def test_a_failed_gate_fails_the_task_with_the_reason(server):
    rc, result = run_ansible("health_check", dict(url=server.url("/down"), wait_timeout=0))
    assert rc != 0
    assert result["status"] == 503
    assert "did not become healthy on a single probe" in result["msg"] and "status 503 (expected 200)" in result["msg"]


@pytest.mark.parametrize("args, expected", [
    (dict(url="http://127.0.0.1:9/health", bogus=1),
     "Unsupported parameters for (lastmile.deploy.health_check) module: bogus"),
    (dict(url="http://127.0.0.1:9/health", samples="many"), "'samples' is of type str"),
    (dict(samples=1), "missing required arguments: url"),
    (dict(url="http://127.0.0.1:9/health", max_error_rate=2), "max_error_rate must be between 0 and 1, got 2.0"),
])
def test_bad_arguments_are_named_before_any_request(args, expected):
    rc, result = run_ansible("health_check", args)
    assert rc != 0
    assert expected in result["msg"]


def test_header_values_never_reach_the_output():
    with AuthServer(token=TOKEN) as server:
        args = dict(url=server.url("/health"), headers={"Authorization": "Bearer " + TOKEN}, samples=2, sample_interval=0)
        rc, result = run_ansible("health_check", args)
        assert rc == 0, result
        assert {s.headers["Authorization"] for s in server.requests_to("/health")} == {"Bearer " + TOKEN}
        rc, result = run_ansible("health_check", dict(url=server.url("/health?" + TOKEN), headers={"X-Token": TOKEN},
                                                      wait_timeout=0))
        assert rc != 0 and "status 401" in result["msg"]
        assert TOKEN not in json.dumps(result)


def action(transport: str, become: bool = False, async_val: int = 0, delegate_to=None) -> ActionModule:
    task = MagicMock(args={"url": closed_port_url(), "wait_timeout": 0}, async_val=async_val, check_mode=False, diff=False,
                     delegate_to=delegate_to)
    connection = MagicMock(transport=transport)
    play_context = MagicMock(become=become)
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    plugin = ActionModule(task, connection, play_context, MagicMock(), templar, MagicMock())
    plugin._execute_module = MagicMock(return_value={"healthy": True, "invocation": {"module_args": {}}})
    return plugin


@pytest.mark.parametrize("transport, become, async_val", [("ssh", False, 0), ("local", True, 0), ("local", False, 30)])
def test_anywhere_else_the_module_runs(transport, become, async_val):
    plugin = action(transport, become, async_val)
    assert not plugin.runs_here()
    plugin._supports_async = True
    result = plugin.run(task_vars={})
    plugin._execute_module.assert_called_once_with(module_name=MODULE, module_args=plugin._task.args, task_vars={})
    assert result["healthy"] is True and "invocation" in result


@pytest.mark.parametrize("task_vars, delegate_to, here", [
    ({}, None, True),
    ({"ansible_python_interpreter": sys.executable}, None, True),
    ({"ansible_python_interpreter": "auto_silent"}, None, True),
    ({"ansible_python_interpreter": "/opt/other/bin/python3"}, None, False),
    ({"ansible_delegated_vars": {"localhost": {"ansible_python_interpreter": "/opt/other/bin/python3"}}}, "localhost",
     False),
    ({"ansible_python_interpreter": "/opt/other/bin/python3",
      "ansible_delegated_vars": {"localhost": {"ansible_python_interpreter": sys.executable}}}, "localhost", True),
])
def test_another_python_for_the_task_gets_the_module(task_vars, delegate_to, here):
    assert action("local", delegate_to=delegate_to).runs_here(task_vars) is here


def test_the_local_connection_without_become_runs_here():
    plugin = action("local")
    assert plugin.runs_here()
    result = plugin.run(task_vars={})
    plugin._execute_module.assert_not_called()
    assert result["failed"] is True and result["healthy"] is False
    assert "did not become healthy on a single probe" in result["msg"]
