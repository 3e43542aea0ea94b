"""Recreate deployments: stop all, switch, start all, verify — and restore on failure."""

from __future__ import annotations

import re

from helpers import check_run, deploy, ensure, history, lb_view

FLEET_HOSTS = 2  # two batches


def test_recreate_switches_every_host_and_reports_downtime(fleet):
    ensure(fleet, "v1")
    lb_before = lb_view(fleet)
    run = deploy(fleet, "v2", deploy_strategy="recreate")
    assert run.rc == 0, run.output[-3000:]
    downtime = re.search(r"service down for (\d+\.\d+)s", run.output)
    assert downtime, run.output[-3000:]
    assert float(downtime.group(1)) > 0
    assert set(fleet.versions().values()) == {"v2"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v2"
        assert history(host)[-1]["status"] == "succeeded"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == lb_before


def test_check_mode_of_recreate_states_the_downtime_it_would_cause_without_measuring_one(fleet):
    ensure(fleet, "v1")
    first, second = (h.name for h in fleet.hosts)
    artifact = fleet.build_release("v3c")
    said = check_run(fleet, "deploy", {"deploy_version": "v3c", "deploy_artifact": str(artifact.path),
                                       "deploy_checksum": artifact.checksum, "deploy_strategy": "recreate",
                                       "deploy_max_cpu_percent": 100})[1]
    assert (f"The deployment of sample v3c would stop the service on {first}, {second} at once, switch them ({first}: "
            f"v1 -> v3c, {second}: v1 -> v3c), start and verify them, with their servers out of the load balancer "
            "until then; the service is down in between.") in said, said


def test_recreate_of_a_release_that_never_starts_restores_every_host(fleet):
    ensure(fleet, "v1")
    lb_before = lb_view(fleet)
    run = deploy(fleet, "v3bad", mode="nostart", deploy_strategy="recreate", deploy_health_timeout=5)
    assert run.rc != 0
    assert "rolled back" in run.output and "spawn error" in run.output, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v1"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v1"
        statuses = {e["version"]: e["status"] for e in history(host)}
        assert statuses["v3bad"] == "failed"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == lb_before


def test_unknown_strategy_is_refused_by_name(fleet):
    ensure(fleet, "v1")
    run = deploy(fleet, "v4", deploy_strategy="yolo")
    assert run.rc != 0
    assert "value of deploy_strategy must be one of: rolling, recreate, blue_green, canary, auto, got: yolo" in run.output
    assert set(fleet.versions().values()) == {"v1"}


def test_auto_strategy_follows_the_answers(fleet):
    ensure(fleet, "v1")
    run = deploy(fleet, "v5", deploy_strategy="auto", deploy_downtime_ok=True, deploy_resources_limited=True)
    assert run.rc == 0, run.output[-3000:]
    assert "deploy_strategy auto chose recreate" in run.output
    assert re.search(r"service down for \d+\.\d+s", run.output)
    assert set(fleet.versions().values()) == {"v5"}


def test_a_host_whose_service_does_not_stop_keeps_every_host_from_switching(fleet):
    """Old and new never side by side: one host that cannot stop its service stops the fleet before any
    switch, and every host that did stop serves its release again."""
    ensure(fleet, "v1")
    lb_before = lb_view(fleet)
    stuck = fleet.hosts[0]
    run = deploy(fleet, "v6", deploy_strategy="recreate",
                 deploy_service_name="{{ 'ghost' if inventory_hostname == '%s' else deploy_app }}" % stuck.name)
    assert run.rc != 0
    assert f"the service did not stop on {stuck.name}: no host was switched" in run.output, run.output[-3000:]
    for host in fleet.hosts:
        assert host.current_target() == "releases/v1"
    # the host that stopped was started again on its release, and answers
    assert fleet.versions() == {host.name: "v1" for host in fleet.hosts}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == lb_before
