"""Bad input and unmet preconditions stop a deployment before any host or the LB changes."""

from __future__ import annotations

import re

import pytest

from conftest import host_state, run_playbook
from helpers import FAST, ensure

FLEET_HOSTS = 2  # refusals need no batches


def attempt(fleet, **overrides):
    artifact = fleet.build_release("v9")
    extra_vars = {
        **FAST,
        "deploy_version": "v9",
        "deploy_artifact": str(artifact.path),
        "deploy_checksum": artifact.checksum,
    }
    extra_vars.update(overrides)
    extra_vars = {name: value for name, value in extra_vars.items() if value is not None}
    before = host_state(fleet)
    run = run_playbook(fleet, "deploy", extra_vars)
    assert run.rc != 0, "the deployment should have been refused"
    assert host_state(fleet) == before, "a refused deployment changed hosts or the LB"
    assert "v9" not in set(fleet.versions().values())
    return run.output


@pytest.fixture(scope="module", autouse=True)
def deployed(fleet):
    ensure(fleet, "v1")


def test_wrong_checksum(fleet):
    out = attempt(fleet, deploy_checksum="sha256:" + "0" * 64)
    assert "0" * 64 in out and "v9" in out


def test_missing_artifact(fleet):
    out = attempt(fleet, deploy_artifact="/nonexistent/sample-v9.tar.gz")
    assert "/nonexistent/sample-v9.tar.gz" in out


def test_unknown_lb_server_name(fleet):
    host = fleet.hosts[1].name
    out = attempt(fleet, deploy_lb_server="{{ 'ghost-' ~ inventory_hostname if inventory_hostname == '%s' else inventory_hostname }}" % host)
    assert f"ghost-{host}" in out and "not in HAProxy backend" in out


def test_unreachable_haproxy_socket(fleet):
    out = attempt(fleet, deploy_haproxy_socket="/tmp/lastmile-no-such.sock")
    assert "/tmp/lastmile-no-such.sock" in out


def test_capacity_threshold_not_met(fleet):
    out = attempt(fleet, deploy_min_disk_free_percent=100)
    # judged from the figures the lock read, named per host with the value and the threshold
    for host in fleet.hosts:
        assert re.search(r"fatal: \[%s\]: FAILED! => .*not enough capacity: disk free on %s is [\d.]+%% \(minimum 100%%\)"
                         % (host.name, re.escape(host.root)), out), out[-3000:]


def test_bad_version_id(fleet):
    out = attempt(fleet, deploy_version="../evil")
    assert "../evil" in out and "release id" in out


def test_missing_required_variable_stops_before_the_prechecks(fleet):
    out = attempt(fleet, deploy_version=None)
    assert "missing required arguments: deploy_version" in out
    assert "lastmile.deploy.precheck :" not in out, "the prechecks ran although a required variable was missing"


def test_bad_variables_of_the_strategy_are_named_before_the_prechecks(fleet):
    out = attempt(fleet, deploy_strategy="canary", deploy_canary_interval="soon", deploy_canary_gate="maybe")
    assert "Variables for deploy_strategy canary are not valid" in out
    assert "'deploy_canary_interval' is of type str and we were unable to convert to float" in out
    assert "deploy_canary_gate must be one of: none, pause, file, got: maybe" in out
    assert "lastmile.deploy.precheck :" not in out and "<class" not in out


def test_precheck_playbook_passes_and_changes_nothing(fleet):
    artifact = fleet.build_release("v9")
    before = host_state(fleet)
    run = run_playbook(fleet, "precheck", {**FAST, "deploy_version": "v9", "deploy_artifact": str(artifact.path),
                                           "deploy_checksum": artifact.checksum})
    assert run.rc == 0, run.output[-3000:]
    assert run.total_changed() == 0
    assert host_state(fleet) == before
