"""Bad input and unmet preconditions stop a deployment before any host or the LB changes."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import host_state, run_playbook
from fleet.playbook import release_vars
from helpers import FAST, deploy, ensure

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


def before_the_lock(out):
    """The run stopped at its variable check: no lock was taken, no precheck ran."""
    assert "The run cannot start, nothing was changed:" in out, out[-3000:]
    assert "Take the deployment lock" not in out and "Verify the artifact checksum" not in out, out[-3000:]


def test_missing_required_variable_stops_before_the_lock(fleet):
    out = attempt(fleet, deploy_version=None)
    before_the_lock(out)
    hosts = ", ".join(h.name for h in fleet.hosts)
    assert f"{hosts}: deploy_version is not set: expected release id to deploy" in out


def test_bad_variables_of_the_strategy_are_named_before_the_lock(fleet):
    out = attempt(fleet, deploy_strategy="canary", deploy_canary_interval="soon", deploy_canary_gate="maybe")
    before_the_lock(out)
    assert "deploy_canary_interval 'soon': expected a value of type float" in out
    assert "value of deploy_canary_gate must be one of: none, pause, file, got: maybe" in out
    assert "<class" not in out


@pytest.mark.parametrize("overrides, named", [
    ({"deploy_batch": "abc"}, "deploy_batch 'abc': batch size 'abc' is not a number or a percentage such as 2 or '25%'"),
    ({"deploy_strategy": "canary", "deploy_canary_steps": [50, 10]},
     "deploy_canary_steps [50, 10]: step 2 (10) does not rise above step 1 (50)"),
    ({"deploy_checksum": "sha256:abc"}, "deploy_checksum 'sha256:abc': checksum 'sha256:abc' has 3 hex digits: sha256 needs 64"),
    ({"deploy_health_url": "ftp://{{ ansible_host }}/health"}, "deploy_health_url 'ftp://127.0.0."),
    # variables of the roles a strategy includes (verify, release), not only of the strategy
    ({"deploy_health_headers": "Authorization: Bearer hh-s3cr3t"},
     "deploy_health_headers <hidden>: expected a mapping of names to values"),
    ({"deploy_keep_releases": -1}, "deploy_keep_releases -1: expected a number of at least 0"),
    ({"deploy_strategy": "canary", "deploy_canary_steps": "10,50"}, "deploy_canary_steps '10,50': expected a list"),
    ({"deploy_strategy": "blue_green", "deploy_blue_group": "blu"},
     "deploy_blue_group 'blu': no such group in the inventory; blue-green needs hosts of the play in groups blu and green"),
])
def test_values_the_run_would_parse_later_are_checked_before_the_lock(fleet, overrides, named):
    out = attempt(fleet, **overrides)
    before_the_lock(out)
    assert named in out, out[-3000:]


def test_a_default_that_needs_an_unset_variable_is_named_before_the_lock(fleet, tmp_path):
    """Without deploy_port the default health URL cannot be made: said before the lock, not after a switch."""
    inventory = yaml.safe_load(Path(fleet.inventory_path).read_text())
    del inventory["all"]["vars"]["deploy_port"]
    without_port = tmp_path / "inventory.yml"
    without_port.write_text(yaml.safe_dump(inventory))
    artifact = fleet.build_release("v9")
    before = host_state(fleet)
    run = run_playbook(SimpleNamespace(inventory_path=without_port, workdir=fleet.workdir), "deploy",
                       {**FAST, **release_vars(artifact)})
    assert run.rc != 0
    before_the_lock(run.output)
    hosts = ", ".join(h.name for h in fleet.hosts)
    assert (f"{hosts}: deploy_health_url cannot be worked out: its default uses deploy_port, which is not set: "
            "set deploy_port (or deploy_health_url)") in run.output, run.output[-3000:]
    assert host_state(fleet) == before


@pytest.mark.parametrize("playbook", ["deploy", "rollback", "precheck"])
@pytest.mark.parametrize("pattern, args, named", [
    ("apps", (), 'deploy_hosts "apps" matches no host of the inventory (groups: app, lb)'),
    ("app", ("--limit", "lb1"), 'deploy_hosts "app" matches no host of the inventory within --limit lb1'),
])
def test_a_target_that_matches_no_host_is_an_error(fleet, playbook, pattern, args, named):
    artifact = fleet.build_release("v9")
    before = host_state(fleet)
    run = run_playbook(fleet, playbook, {**FAST, **release_vars(artifact), "deploy_hosts": pattern}, *args)
    assert run.rc != 0, run.output[-3000:]
    assert named in run.output, run.output[-3000:]
    assert host_state(fleet) == before


def test_precheck_playbook_passes_and_changes_nothing(fleet):
    artifact = fleet.build_release("v9")
    before = host_state(fleet)
    run = run_playbook(fleet, "precheck", {**FAST, "deploy_version": "v9", "deploy_artifact": str(artifact.path),
                                           "deploy_checksum": artifact.checksum})
    assert run.rc == 0, run.output[-3000:]
    assert run.total_changed() == 0
    assert host_state(fleet) == before


def test_the_live_release_id_from_another_artifact_is_refused_naming_both_checksums(fleet, tmp_path):
    """v8, deployed by the collection, comes back under the same id with other bytes: refused under
    load, naming each host's checksum and the artifact's; nothing changes."""
    from fleet.artifacts import build_release

    first = deploy(fleet, "v8")
    assert first.rc == 0, first.output[-3000:]
    live = fleet.build_release("v8")
    other = build_release(str(tmp_path), "v8", response_delay=0.001)
    assert other.checksum != live.checksum
    before = host_state(fleet)
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", {**FAST, "deploy_version": "v8", "deploy_artifact": other.path,
                                             "deploy_checksum": other.checksum})
    report = load.snapshot()
    assert run.rc != 0, run.output[-3000:]
    assert host_state(fleet) == before, "a refused deployment changed hosts or the LB"
    assert report.failed == 0 and set(report.versions) == {"v8"}, report.summary()
    text = re.sub(r"\s+", " ", run.output)
    assert "release v8 is already unpacked from another artifact on" in text, run.output[-3000:]
    for host in fleet.hosts:
        assert f"{host.name} ({live.checksum})" in text, run.output[-3000:]
    assert f"the artifact of this run has checksum {other.checksum}" in text
