# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_service with verify: the module runs on the host, then the probe from the controller, in one task."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.lastmile.deploy.plugins.action.app_service import MODULE, ActionModule
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer

OMIT = "__omit_place_holder__0123456789abcdef"
SWITCHED = dict(changed=True, status="RUNNING", release=dict(version="v2", previous="v1", switched=True, recorded=True))
TOKEN = "svc-verify-7c31aa02"


def action(args, module_result=None, check_mode=False):
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=False, delegate_to=None)
    plugin = ActionModule(task, MagicMock(transport="ssh"), MagicMock(become=False), MagicMock(), MagicMock(), MagicMock())
    if isinstance(module_result, Exception):
        plugin._execute_module = MagicMock(side_effect=module_result)
    else:
        plugin._execute_module = MagicMock(return_value=dict(module_result or SWITCHED))
    return plugin


def service_args(**verify):
    return dict(name="shop", manager="supervisor", release=dict(root="/opt/shop", version="v2"), verify=verify)


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def test_the_switch_runs_on_the_host_then_the_probe_from_the_controller(server):
    plugin = action(service_args(url=server.url("/health"), samples=5, sample_interval=0))
    result = plugin.run(task_vars={"omit": OMIT})
    assert "failed" not in result and result["release"]["switched"] is True, result
    assert result["health"]["healthy"] is True and result["health"]["stats"]["count"] == 5
    assert result["health"]["seconds"] >= 0
    # the module gets its own options only: verify never reaches the host
    (call,) = plugin._execute_module.call_args_list
    assert call.kwargs["module_name"] == MODULE and "verify" not in call.kwargs["module_args"]
    assert server.counts.get("/health", 0) == 6


def test_an_unhealthy_service_fails_the_task_and_keeps_what_the_switch_did(server):
    result = action(service_args(url=server.url("/down"), wait_timeout=0)).run(task_vars={})
    assert result["failed"] is True
    assert result["msg"].startswith("the service runs, but it is not healthy: %s did not become healthy"
                                    % server.url("/down")), result["msg"]
    assert result["health"]["status"] == 503
    # the restore reads it: current was switched
    assert result["release"]["switched"] is True


@pytest.mark.parametrize("verify, expected", [
    (dict(url="http://127.0.0.1:9/health", max_error_rate=2), "verify: max_error_rate must be between 0 and 1, got 2.0"),
    (dict(url="http://127.0.0.1:9/health", bogus=1), "verify: Unsupported parameters for (lastmile.deploy.health_check) module: bogus"),
    (dict(samples=3), "verify: missing required arguments: url"),
    (dict(url="http://127.0.0.1:9/health", page_urls=["http://evil.example/x"], samples=2),
     "verify: page_urls http://evil.example/x: expected pages of http://127.0.0.1:9"),
    ("http://127.0.0.1:9/health", "verify: expected a dict of lastmile.deploy.health_check's options, got "
                                  "'http://127.0.0.1:9/health'"),
    (dict(url="ftp://127.0.0.1/health"), "verify: URL 'ftp://127.0.0.1/health' is not an http:// or https:// URL"),
    (dict(url="http://127.0.0.1:9/health", body_regex="["), "verify: body_regex '[' is not a valid regular expression"),
    (dict(url="http://127.0.0.1:9/health", headers={"Bad Name": "x"}),
     "verify: headers: header name 'Bad Name' is not a valid HTTP header name"),
    (dict(url="http://127.0.0.1:9/health", headers={"X-Token": "a\nb"}),
     "verify: headers: the value of header 'X-Token' contains a line break or NUL (value not shown)"),
])
def test_options_the_probe_would_refuse_fail_before_the_host_changes(verify, expected):
    args = service_args()
    args["verify"] = verify
    plugin = action(args)
    result = plugin.run(task_vars={})
    assert result["failed"] is True and result["msg"].startswith(expected), result["msg"]
    plugin._execute_module.assert_not_called()


def test_a_stopped_service_is_not_probed():
    args = dict(service_args(url="http://127.0.0.1:9/health"), state="stopped")
    plugin = action(args)
    result = plugin.run(task_vars={})
    assert result["failed"] is True and "verify is for state=started or restarted" in result["msg"]
    plugin._execute_module.assert_not_called()


def test_verify_with_async_is_refused_but_async_alone_runs_the_module():
    plugin = action(service_args(url="http://127.0.0.1:9/health"))
    plugin._task.async_val = 30
    result = plugin.run(task_vars={})
    assert result["failed"] is True and "run verify without async" in result["msg"]
    plugin._execute_module.assert_not_called()
    assert ActionModule._supports_async is True


def test_a_short_header_value_hides_nothing_of_the_module_result(server):
    verify = dict(url=server.url("/health"), headers={"X-Probe": "shop"}, samples=1, sample_interval=0)
    module_said = dict(SWITCHED, name="shop", release=dict(SWITCHED["release"], root="/opt/shop"))
    result = action(service_args(**verify), module_result=module_said).run(task_vars={})
    assert "failed" not in result, result
    assert (result["name"], result["release"]["root"]) == ("shop", "/opt/shop")


def test_a_failed_restart_is_not_probed(server):
    failed = dict(SWITCHED, failed=True, msg="shop did not run within 30s: FATAL")
    result = action(service_args(url=server.url("/health")), module_result=failed).run(task_vars={})
    assert result["msg"] == "shop did not run within 30s: FATAL" and "health" not in result
    assert server.counts.get("/health", 0) == 0


def test_check_mode_sends_no_probe(server):
    result = action(service_args(url=server.url("/health")), check_mode=True).run(task_vars={})
    assert "health" not in result and "failed" not in result
    assert server.counts.get("/health", 0) == 0


def test_a_host_lost_during_its_switch_fails_the_step_and_is_marked_unreachable():
    lost = AnsibleConnectionFailure("Failed to connect to the host via ssh")
    result = action(service_args(url="http://127.0.0.1:9/health"), module_result=lost).run(task_vars={})
    assert result["failed"] is True and result["unreachable"] is True
    assert result["msg"] == "unreachable: Failed to connect to the host via ssh"


def test_options_left_out_with_omit_are_left_out(server):
    # ansible-core before 2.19 keeps omit's placeholder inside a dict
    verify = dict(url=server.url("/health"), body_regex=OMIT, max_latency_ms=OMIT, headers=OMIT, samples=2,
                  sample_interval=0)
    result = action(service_args(**verify)).run(task_vars={"omit": OMIT})
    assert "failed" not in result, result
    assert result["health"]["stats"]["count"] == 2


def test_header_values_never_reach_the_result_nor_the_host():
    with AuthServer(token=TOKEN) as auth:
        verify = dict(url=auth.url("/health"), headers={"Authorization": "Bearer " + TOKEN}, samples=2, sample_interval=0)
        plugin = action(service_args(**verify))
        result = plugin.run(task_vars={})
        wrong = dict(verify, wait_timeout=0)
        wrong["headers"] = {"Authorization": "Bearer wrong-" + TOKEN}
        refused = action(service_args(**wrong)).run(task_vars={})
    assert "failed" not in result, result
    assert result["health"]["stats"]["count"] == 2
    assert TOKEN not in repr(result) and TOKEN not in repr(plugin._execute_module.call_args)
    assert refused["failed"] is True and TOKEN not in repr(refused), refused
