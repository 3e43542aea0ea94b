"""Canary with analysis on the fleet, under steady load through HAProxy."""

from __future__ import annotations

import re

from conftest import run_playbook
from helpers import check_run, deploy, ensure, history, lb_view

FLEET_HOSTS = 3  # enough hosts for several batches


CANARY = {"deploy_strategy": "canary", "deploy_canary_interval": 2, "deploy_canary_min_requests": 10}

# The canary with its defaults (steps 10, 50, 100; min_requests 20; inconclusive fails; no probes) but for
# the interval. The fleet's load (2 clients, 20 ms apart) made 75 to 85 requests/s here: at 10 % the
# canary gets some 60 requests in 8 s, still min_requests 20 when a busy machine runs at a third of that.
# Of helpers.FAST only the CPU gate is forced: every host shares this machine's CPUs, so the gate would
# judge the machine, not a host. The others only shorten waits (health timeout, CPU sample, number of
# verify samples) and change no outcome here, so they stay at their defaults.
DEFAULT_CANARY = {"deploy_strategy": "canary", "deploy_canary_interval": 8, "deploy_max_cpu_percent": 100}


def deploy_with_defaults(fleet, version, mode="good", **extra):
    """Run lastmile.deploy.deploy with DEFAULT_CANARY and nothing else of the tests' quick settings."""
    artifact = fleet.build_release(version, mode=mode)
    return run_playbook(fleet, "deploy", {**DEFAULT_CANARY, **extra, "deploy_version": version,
                                          "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum})


def test_good_canary_with_default_settings_is_promoted(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    with fleet.load() as load:
        run = deploy_with_defaults(fleet, "v2d")
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.failed == 0, report.summary()
    verdicts = re.findall(r"canary step (\d) \((\d+)%\): (\w+)", run.output)
    assert verdicts == [("1", "10", "pass"), ("2", "50", "pass"), ("3", "100", "pass")], run.output[-3000:]
    # at 100 % the stable servers take no traffic: the canary is judged against their figures of step 2
    assert "judged against the earlier stable figures (step 2 at 50%)" in run.output, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v2d"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v2d"
        assert history(host)[-1]["status"] == "succeeded"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_check_mode_of_a_canary_with_default_settings_states_its_steps_and_judges_nothing(fleet):
    """No traffic step is taken, no window waited for and no verdict given on the release serving now."""
    ensure(fleet, "v1")
    first, second, third = (h.name for h in fleet.hosts)
    artifact = fleet.build_release("v2c")
    said = check_run(fleet, "deploy", {**DEFAULT_CANARY, "deploy_version": "v2c", "deploy_artifact": str(artifact.path),
                                       "deploy_checksum": artifact.checksum})[1]
    assert (f"The deployment of sample v2c would move the canary ({first}: v1 -> v2c) out of rotation (switched, "
            "restarted, verified directly), then shift traffic to it in steps of 10 %, 50 %, 100 %, each judged over "
            f"8 s on the LB counters, then give every server its weight back. Then the rest in 2 batches: 2. {second}: "
            f"v1 -> v2c; 3. {third}: v1 -> v2c.") in said, said


def test_bad_canary_with_default_settings_is_rolled_back(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    with fleet.load() as load:
        run = deploy_with_defaults(fleet, "v3derr", mode="errors")
    report = load.snapshot()
    assert run.rc != 0
    assert "canary step 1 (10% of traffic)" in run.output, run.output[-3000:]
    assert "max_error_rate" in run.output
    assert "canary step 2" not in run.output
    assert report.failed < 0.05 * report.total, report.summary()
    assert set(fleet.versions().values()) == {"v1"}
    assert {e["version"]: e["status"] for e in history(fleet.hosts[0])}["v3derr"] == "failed"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_good_canary_is_promoted_to_the_whole_fleet(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    with fleet.load() as load:
        # at 100 % the stable servers see only the probes (about 4 per server in a 2 s window)
        run = deploy(fleet, "v2", deploy_canary_steps=[20, 50, 100], deploy_canary_probe_path="/",
                     **{**CANARY, "deploy_canary_min_requests": 5})
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.failed == 0, report
    verdicts = re.findall(r"canary step (\d) \((\d+)%\): (\w+)", run.output)
    assert verdicts == [("1", "20", "pass"), ("2", "50", "pass"), ("3", "100", "pass")], verdicts
    assert set(fleet.versions().values()) == {"v2"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v2"
        assert history(host)[-1]["status"] == "succeeded"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_canary_answering_errors_is_rolled_back_at_the_first_step(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    with fleet.load() as load:
        run = deploy(fleet, "v3err", mode="errors", **CANARY)
    report = load.snapshot()
    assert run.rc != 0
    assert "canary step 1 (10% of traffic)" in run.output, run.output[-3000:]
    assert "max_error_rate" in run.output
    assert "canary step 2" not in run.output
    assert report.failed < 0.05 * report.total, report
    assert set(fleet.versions().values()) == {"v1"}
    canary = fleet.hosts[0]
    assert {e["version"]: e["status"] for e in history(canary)}["v3err"] == "failed"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_canary_that_never_starts_fails_no_request(fleet):
    ensure(fleet, "v1")
    with fleet.load() as load:
        run = deploy(fleet, "v4bad", mode="nostart", deploy_health_timeout=5, **CANARY)
    assert run.rc != 0
    assert load.snapshot().failed == 0, load.snapshot()
    assert set(fleet.versions().values()) == {"v1"}


def test_manual_gate_without_approval_rolls_the_canary_back(fleet, tmp_path):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    gate = tmp_path / "approve"
    with fleet.load() as load:
        run = deploy(fleet, "v5", deploy_canary_steps=[20, 100], deploy_canary_gate="file",
                     deploy_canary_gate_path=str(gate), deploy_canary_gate_timeout=2, **CANARY)
    assert run.rc != 0
    assert f"no approval within 2s: {gate} was not created before canary step 2" in run.output, run.output[-3000:]
    assert "canary step 1 (20%): pass" in run.output
    assert load.snapshot().failed == 0
    assert set(fleet.versions().values()) == {"v1"}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_canary_straight_to_100_is_judged_against_the_stable_figures_before_the_first_shift(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    with fleet.load():
        # one step: a shorter window than DEFAULT_CANARY's still sees some 300 requests at 100 %
        run = deploy_with_defaults(fleet, "v6err", mode="errors", deploy_canary_steps=[100], deploy_canary_interval=4)
    assert run.rc != 0
    # a verdict of its own, not "inconclusive": the stable servers were observed before all traffic moved
    assert re.search(r"canary step 1 \(100% of traffic\): canary analysis of backend '\w+' failed \(canary app1 "
                     r"over [\d.]+s vs the earlier stable figures \(before the first shift\)\)", run.output), \
        run.output[-3000:]
    assert "> max_error_rate 0.001; earlier stable figures (before the first shift) 0.000" in run.output
    assert set(fleet.versions().values()) == {"v1"}
    assert {e["version"]: e["status"] for e in history(fleet.hosts[0])}["v6err"] == "failed"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
