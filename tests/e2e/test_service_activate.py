# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_service with release: point current at a release and restart on it, in one module run,
against a real supervisord through the ansible CLI."""

from __future__ import annotations

import pytest
from helpers import history

from ansible_collections.lastmile.deploy.plugins.modules import app_service
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

FLEET_HOSTS = 1


@pytest.fixture
def host(fleet):
    """The host serves v1, with v2 unpacked beside it and not current."""
    host = fleet.hosts[0]
    fleet.install_release(fleet.build_release("v2"))
    fleet.install_release(fleet.build_release("v1"))
    assert host.current_target() == "releases/v1" and host.version() == "v1"
    yield host
    fleet.install_release(fleet.build_release("v1"))


def activate(host, version, check_mode=False, **extra):
    args = dict(dict(name="sample", manager="supervisor", supervisorctl=host.supervisorctl, timeout=15,
                     release=dict(root=host.root, version=version)), **extra)
    return run_ansible("app_service", args, check_mode=check_mode)


def test_switches_then_restarts_on_the_release(host):
    pid = host.process_info()["pid"]
    rc, result = activate(host, "v2")
    assert rc == 0, result
    assert result["changed"] is True and result["status"] == "RUNNING"
    assert result["release"] == {"version": "v2", "previous": "v1", "switched": True, "recorded": True}
    assert host.current_target() == "releases/v2" and host.version() == "v2"
    assert host.process_info()["pid"] != pid
    assert history(host)[-1]["version"] == "v2" and history(host)[-1]["status"] == "pending"

    # the release is current already: the restart still happens, the link does not change
    pid = host.process_info()["pid"]
    rc, result = activate(host, "v2")
    assert rc == 0 and result["release"]["switched"] is False and result["changed"] is True, result
    assert host.process_info()["pid"] != pid


def test_check_mode_changes_nothing_and_shows_the_switch(host, capsys):
    pid = host.process_info()["pid"]
    rc, result = activate(host, "v2", check_mode=True)
    assert rc == 0 and result["changed"] is True and result["release"]["switched"] is True, result
    args = dict(name="sample", manager="supervisor", supervisorctl=host.supervisorctl,
                release=dict(root=host.root, version="v2"), _ansible_diff=True)
    rc, result = run_in_process(app_service.main, args, capsys, check_mode=True)
    assert rc == 0 and result["diff"] == {"before": {"current": "v1"}, "after": {"current": "v2"}}, result
    assert host.current_target() == "releases/v1" and host.process_info()["pid"] == pid
    # a release staged earlier in the same check run is not there either: it counts as there
    rc, result = activate(host, "v8", check_mode=True)
    assert rc == 0 and result["release"] == {"version": "v8", "previous": "v1", "switched": True, "recorded": True}, result
    assert host.current_target() == "releases/v1" and host.process_info()["pid"] == pid


@pytest.mark.parametrize("version, extra, expected", [
    ("v7", {}, "release 'v7' is not unpacked"),
    ("v2", {"state": "started"}, "release is only for state=restarted"),
    ("../v1", {}, "../v1"),
])
def test_bad_input_is_refused_before_anything_changes(host, version, extra, expected):
    pid = host.process_info()["pid"]
    rc, result = activate(host, version, **extra)
    assert rc != 0 and expected in result["msg"], result
    assert host.current_target() == "releases/v1" and host.process_info()["pid"] == pid
    assert host.version() == "v1"


def test_a_release_that_cannot_start_says_it_was_switched(fleet, host):
    fleet.install_release(fleet.build_release("v3bad", mode="nostart"))
    fleet.install_release(fleet.build_release("v1"))
    rc, result = activate(host, "v3bad", timeout=5)
    assert rc != 0 and "did not start" in result["msg"], result
    # what a rollback reads to know the host must go back
    assert result["release"] == {"version": "v3bad", "previous": "v1", "switched": True, "recorded": True}
    assert result["changed"] is True
    assert host.current_target() == "releases/v3bad"
