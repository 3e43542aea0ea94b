"""Rolling deployments on a real fleet behind HAProxy, under steady traffic."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import host_state, run_playbook
from helpers import FAST, check_run, deploy, ensure, history

FLEET_HOSTS = 2  # two batches


def test_rolling_v1_to_v2_under_load_fails_no_request(fleet):
    ensure(fleet, "v1")
    with fleet.load() as load:
        run = deploy(fleet, "v2")
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.total > 200, f"too little traffic to prove anything: {report}"
    assert report.failed == 0, f"users saw failures during the rollout: {report}"
    assert "v2" in report.versions, report
    switched = re.findall(r"TASK \[lastmile\.deploy\.service : Switch current and restart the service[^\]]*\][^\n]*\nchanged: \[(\w+)\]", run.output)
    assert switched == [h.name for h in fleet.hosts], f"batches out of plan order: {switched}"
    # the batches hand on: a play of its own takes the first out, each batch then takes the next one out once it has
    # its traffic back, in the same task
    banners = re.findall(r"^TASK \[lastmile\.deploy\.traffic : ([^\]]*)\]", run.output, re.M)
    assert banners.count("Drain the batch in HAProxy and wait for its sessions to end") == 1, banners
    assert sum(banner.endswith(", then take the next batch out") for banner in banners) == len(fleet.hosts), banners
    for host in fleet.hosts:
        assert host.version() == "v2", host.name
        assert host.current_target() == "releases/v2", host.name
        assert (Path(host.root) / "releases" / "v1").is_dir(), f"v1 gone from {host.name}"
        assert history(host)[-1]["version"] == "v2" and history(host)[-1]["status"] == "succeeded"
    lb = fleet.haproxy.server_states()
    assert {s["admin"] for s in lb.values()} == {"ready"}, lb
    assert {s["weight"] for s in lb.values()} == {100}, lb


def test_same_deployment_again_changes_nothing(fleet):
    ensure(fleet, "v1", "v2")
    before = host_state(fleet)
    run = deploy(fleet, "v2")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.recap) >= {h.name for h in fleet.hosts}
    assert run.total_changed() == 0, {h: c["changed"] for h, c in run.recap.items()}
    assert host_state(fleet) == before


def test_release_that_never_starts_is_rolled_back_without_failed_requests(fleet):
    ensure(fleet, "v1", "v2")
    lb_before = fleet.haproxy.server_states()
    with fleet.load() as load:
        run = deploy(fleet, "v3bad", mode="nostart", deploy_health_timeout=5)
    report = load.snapshot()
    assert run.rc != 0
    first = fleet.hosts[0].name
    assert f"{first}:" in run.output and "rolled back" in run.output, run.output[-3000:]
    assert report.failed == 0, f"users saw failures: {report}"
    assert set(fleet.versions().values()) == {"v2"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v2"
    assert history(fleet.hosts[0])[-1]["status"] in ("succeeded",)
    assert any(e["version"] == "v3bad" and e["status"] == "failed" for e in history(fleet.hosts[0]))
    lb_after = fleet.haproxy.server_states()
    assert {n: (s["admin"], s["weight"]) for n, s in lb_after.items()} == \
        {n: (s["admin"], s["weight"]) for n, s in lb_before.items()}


def test_release_that_answers_unhealthy_names_host_and_check(fleet):
    ensure(fleet, "v1", "v2")
    run = deploy(fleet, "v4sick", mode="unhealthy", deploy_health_timeout=4)
    assert run.rc != 0
    assert f"{fleet.hosts[0].name}:" in run.output
    assert "verify its health" in run.output and "it is not healthy" in run.output and "503" in run.output, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v2"}


def test_rollback_restores_previous_release_and_skips_failed_one(fleet):
    ensure(fleet, "v1", "v2")
    # a failed deployment in between must never become the rollback target
    failed = deploy(fleet, "v3bad", mode="nostart", deploy_health_timeout=5)
    assert failed.rc != 0
    with fleet.load() as load:
        run = run_playbook(fleet, "rollback", {**FAST})
    assert run.rc == 0, run.output[-3000:]
    assert load.snapshot().failed == 0, load.snapshot()
    assert set(fleet.versions().values()) == {"v1"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v1"
        statuses = {e["version"]: e["status"] for e in history(host)}
        assert statuses["v2"] == "rolled_back"
        assert statuses["v1"] == "succeeded"
    # only the first batch ever ran v3bad; it is recorded there as failed
    failed_entry = [e for e in history(fleet.hosts[0]) if e["version"] == "v3bad"][-1]
    assert failed_entry["status"] == "failed"
    # said before anything changed: what goes, what comes back, and the deployment already undone
    first = fleet.hosts[0].name
    said = re.sub(r"\s+", " ", run.output)
    statement = re.search(
        r"Rolling back(?: run \S+)?: %s: removes v2, puts back v1\. Deployments already undone since: [^\"]*%s: [^\"]*"
        r"v3bad failed at %s[^\"]*\." % (", ".join(h.name for h in fleet.hosts), first, failed_entry["finished_at"]), said)
    assert statement, run.output[-3000:]
    assert statement.start() < said.index("Drain the batch"), "the statement came after a change"


def test_a_second_rollback_is_refused_saying_when_the_first_one_was(fleet):
    """A rollback is not a toggle: after v2 was rolled back to v1, another rollback changes nothing
    and names v2's rollback with its time."""
    if set(fleet.versions().values()) != {"v1"} or history(fleet.hosts[0])[-1]["status"] != "rolled_back":
        ensure(fleet, "v1", "v2")
        assert run_playbook(fleet, "rollback", {**FAST}).rc == 0
    rolled_back_at = {h.name: [e for e in history(h) if e["status"] == "rolled_back"][-1] for h in fleet.hosts}
    before = host_state(fleet)
    with fleet.load() as load:
        run = run_playbook(fleet, "rollback", {**FAST})
    assert run.rc != 0, run.output[-3000:]
    assert host_state(fleet) == before, "a refused rollback changed hosts or the LB"
    assert load.snapshot().failed == 0 and set(load.snapshot().versions) == {"v1"}, load.snapshot().summary()
    said = re.sub(r"\s+", " ", run.output)
    for host, entry in rolled_back_at.items():
        assert f"{host}: no earlier successfully deployed release" in said, run.output[-3000:]
        assert f"Already undone: {entry['version']} was rolled back at {entry['finished_at']}" in said, run.output[-3000:]


def test_check_mode_states_the_plan_and_changes_nothing(fleet):
    """A check run of a deployment, then of a rollback, at their defaults: each states its batches in order and
    moves, measures and judges nothing."""
    ensure(fleet, "v1")
    first, second = (h.name for h in fleet.hosts)
    artifact = fleet.build_release("v5")
    defaults = {"deploy_version": "v5", "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum,
                "deploy_max_cpu_percent": 100}
    run, said = check_run(fleet, "deploy", defaults)
    assert run.total_changed() > 0, "check mode must say what would change"
    assert said.startswith(
        "Check mode: nothing was changed, no window was waited for and no traffic was judged. The deployment of sample "
        f"v5 would move 2 hosts in 2 batches, in this order: 1. {first}: v1 -> v5; 2. {second}: v1 -> v5. Each batch "
        "is drained in the load balancer, switched, restarted, verified directly and given its traffic back, then "
        "watched 3 s on the LB counters."), said

    ensure(fleet, "v1", "v2")
    said = check_run(fleet, "rollback", {"deploy_max_cpu_percent": 100})[1]
    assert (f"would move 2 hosts in 2 batches, in this order: 1. {first}: v2 -> v1; 2. {second}: v2 -> v1. Each batch "
            "is drained in the load balancer, switched, restarted, verified directly and given its traffic back.") \
        in said, said


def test_rolling_without_load_balancer_touches_no_lb_state(fleet):
    ensure(fleet, "v1")
    # an operator-set weight: a run without an LB provider must leave it alone
    fleet.haproxy.command("set server sample/app2 weight 42")
    try:
        run = deploy(fleet, "v6", deploy_lb_provider="none", deploy_batch="50%")
        assert run.rc == 0, run.output[-3000:]
        assert set(fleet.versions().values()) == {"v6"}
        assert fleet.haproxy.server_states()["app2"]["weight"] == 42
    finally:
        fleet.haproxy.command("set server sample/app2 weight 100")


def test_release_slower_than_the_default_latency_gate_is_rolled_back(fleet):
    """The post-deploy threshold of the guide is on by default: p95 of the verify samples under 100 ms."""
    ensure(fleet, "v1")
    slow = fleet.build_release("v7slow", health_delay=0.25)
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", {**FAST, "deploy_version": "v7slow", "deploy_artifact": str(slow.path),
                                             "deploy_checksum": slow.checksum})
    assert run.rc != 0, run.output[-3000:]
    first = fleet.hosts[0].name
    # the release answers health checks in 250 ms; a busy machine adds to that
    assert re.search(r"p95 latency (2[5-9]\d|[3-9]\d\d|\d{4,})\.\d ms > 100 ms", run.output), run.output[-3000:]
    assert f"{first}:" in run.output and "rolled back" in run.output, run.output[-3000:]
    assert load.snapshot().failed == 0, load.snapshot()
    assert set(fleet.versions().values()) == {"v1"}
    assert {e["version"]: e["status"] for e in history(fleet.hosts[0])}["v7slow"] == "failed"


def test_a_release_that_fails_only_on_a_real_page_is_stopped_by_deploy_verify_paths(fleet):
    """/health answers 200 while / fails 30 % of requests: sampling / on the host stops the first batch before it
    takes traffic, and users see no error."""
    ensure(fleet, "v1")
    first = fleet.hosts[0]
    with fleet.load() as load:
        run = deploy(fleet, "v8err", mode="errors", deploy_verify_paths=["/"])
    assert run.rc != 0, run.output[-3000:]
    assert load.snapshot().failed == 0, load.snapshot().summary()
    assert set(fleet.versions().values()) == {"v1"}
    said = re.sub(r"\s+", " ", run.output)
    assert re.search(r"%s: Switch current and restart the service, then verify its health \(release v8err\): "
                     r"the service runs, but it is not healthy: %s: error rate 0\.[2-4]\d* > 0\.001 over 10 "
                     r"samples \(\d+ failed, statuses 200 x\d+, 500 x\d+\)" % (first.name, re.escape(first.url)), said), \
        run.output[-3000:]
    assert {e["version"]: e["status"] for e in history(first)}["v8err"] == "failed"
    assert "v8err" not in {e["version"] for e in history(fleet.hosts[1])}


def test_a_release_that_fails_only_what_users_ask_for_fails_its_first_batch_at_the_defaults(fleet):
    """/health answers 200 while / fails 30 % of requests. The first batch takes traffic back and is watched on
    HAProxy's counters against the rest of the fleet for deploy_batch_observe_seconds (default 3 s): it fails there,
    is drained at once and put back; the second host never runs the release."""
    ensure(fleet, "v1")
    first, second = fleet.hosts
    bad = fleet.build_release("v9err", mode="errors")
    extra = {**{k: v for k, v in FAST.items() if k != "deploy_batch_observe_seconds"},
             "deploy_version": "v9err", "deploy_artifact": str(bad.path), "deploy_checksum": bad.checksum}
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", extra)
    report = load.snapshot()
    assert run.rc != 0, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v1"}
    said = re.sub(r"\s+", " ", run.output)
    assert re.search(r"%s: Give the batch back its HAProxy state and weight, then watch it serve users, then take the next "
                     r"batch out \(release v9err\): "
                     r"lb1: judging the LB "
                     r"counters of backend 'sample' failed \(batch %s vs rest of the fleet %s over 3\.\d+s\): batch "
                     r"error rate 0\.\d+ \(\d+/\d+\) > max_error_rate 0\.001" % (first.name, first.name, second.name), said), \
        run.output[-3000:]
    assert f"Restored: {first.name} -> v1" in said
    # the batch failed its watch: the next batch was never taken out
    assert f"sample/{second.name} state drain" not in said, run.output[-3000:]
    # users met the release on one host for one window: a few errors, not the fleet's share of 30 %
    assert 0 < report.failed < 0.1 * report.total, report.summary()
    assert "v9err" not in {e["version"] for e in history(second)}
    assert {e["version"]: e["status"] for e in history(first)}["v9err"] == "failed"
