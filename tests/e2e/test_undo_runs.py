"""What a run remembers of the runs before it: a run killed with SIGKILL after it switched a host, run
again or rolled back; a deployment limited to some hosts, rolled back. Each ends with every host on one
known, verified release, and users never served by the release the dead run left unverified."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

from conftest import run_playbook
from helpers import FAST, ensure, history, lb_view

from fleet.procs import pid_alive, wait_until

FLEET_HOSTS = 2
WATCHED = {k: v for k, v in FAST.items() if k != "deploy_batch_observe_seconds"}


def kill_after_a_switch(fleet, version, host, mode="errors"):
    """Deploy ``version`` (by default one that fails 30 % of ``/`` while ``/health`` answers 200) and SIGKILL the
    whole run once ``host`` was switched, while it is still out of rotation; returns the run's extra vars."""
    lock = Path(fleet.hosts[0].root) / ".lastmile" / "lock.json"
    seen = {"task": "", "pid": None}

    def kill_before_the_host_is_verified(line):
        if line.startswith("TASK ["):
            if seen["pid"] is None and seen["task"] == "switched":
                seen["pid"] = json.loads(lock.read_text())["holder"]["pid"]
                os.killpg(seen["pid"], signal.SIGKILL)
            seen["task"] = line
        elif "Switch current and restart the service" in seen["task"] and line.startswith("changed: [%s]" % host.name):
            seen["task"] = "switched"

    artifact = fleet.build_release(version, mode=mode)
    extra = {**WATCHED, "deploy_version": version, "deploy_artifact": str(artifact.path),
             "deploy_checksum": artifact.checksum}
    dead = run_playbook(fleet, "deploy", extra, on_line=kill_before_the_host_is_verified)
    assert seen["pid"] is not None, dead.output[-3000:]
    wait_until(lambda: not pid_alive(seen["pid"]), timeout=10, what="the killed ansible-playbook to exit")
    # what the dead run left: the host on the release, recorded pending, out of rotation
    assert host.current_target() == "releases/%s" % version
    assert history(host)[-1]["version"] == version and history(host)[-1]["status"] == "pending"
    assert lb_view(fleet)[host.name][0] != "ready", lb_view(fleet)
    return extra


def rollback_under_load(fleet):
    """lastmile.deploy.rollback under load, which must succeed: the run, the load's report, the output folded."""
    with fleet.load() as load:
        run = run_playbook(fleet, "rollback", {**FAST})
    assert run.rc == 0, run.output[-3000:]
    return run, load.snapshot(), re.sub(r"\s+", " ", run.output)


def test_a_run_after_a_dead_run_puts_its_unverified_host_back_before_it_takes_traffic(fleet):
    """The same command again: the host the dead run switched goes back to v1 first, named in the report; the
    release then fails its watch on the first batch and is put back, so every host ends on v1, the switched host
    included ("Restored: <host> -> v1", not "no host had been switched")."""
    ensure(fleet, "v1")
    before = lb_view(fleet)
    first = fleet.hosts[0]
    extra = kill_after_a_switch(fleet, "v8dead", first)
    assert fleet.hosts[1].current_target() == "releases/v1"
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", extra)
    report = load.snapshot()
    said = re.sub(r"\s+", " ", run.output)
    assert run.rc != 0, run.output[-3000:]
    assert (f"A dead run left hosts on a release it never finished deploying: {first.name}: v8dead -> v1; put back "
            "before this run changed anything else.") in said, run.output[-3000:]
    assert f"Restored: {first.name} -> v1" in said, run.output[-3000:]
    # the recovery came before the first drain of the run's own batches
    assert said.index("Put back the release each host had before the dead run") < said.index("Drain the batch")
    assert set(fleet.versions().values()) == {"v1"}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    assert [e["status"] for e in history(first) if e["version"] == "v8dead"] == ["failed", "failed"]
    # users met the release on one host for one watch window only
    assert report.failed < 0.1 * report.total, report.summary()


def test_a_rollback_after_a_dead_run_undoes_only_that_run(fleet):
    """The rollback puts the dead run's host back to v1 before it takes traffic, and rolls back nothing
    else: users never meet the unverified release, the other host is not touched, and every host ends on v1."""
    ensure(fleet, "v1")
    before = lb_view(fleet)
    first, second = fleet.hosts
    kill_after_a_switch(fleet, "v8dead2", first)
    untouched = history(second)
    run, report, said = rollback_under_load(fleet)
    assert f"A dead run left hosts on a release it never finished deploying: {first.name}: v8dead2 -> v1" in said, \
        run.output[-3000:]
    assert "nothing else is rolled back" in said
    assert report.failed == 0 and set(report.versions) == {"v1"}, report.summary()
    assert set(fleet.versions().values()) == {"v1"}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    assert history(second) == untouched
    assert [e["status"] for e in history(first) if e["version"] == "v8dead2"] == ["failed"]
    assert history(first)[-1]["version"] == "v1" and history(first)[-1]["status"] == "succeeded"


def test_a_rollback_after_a_limited_deployment_moves_only_the_hosts_that_run_changed(fleet):
    """v2 everywhere, then v3 with --limit on the first host: the rollback takes that host back to v2 and leaves
    the other as it is, saying so; the next rollback undoes the deployment before, on every host."""
    ensure(fleet, "v1", "v2")
    first, second = fleet.hosts
    v3 = fleet.build_release("v3")
    extra = {**FAST, "deploy_version": "v3", "deploy_artifact": str(v3.path), "deploy_checksum": v3.checksum}
    limited = run_playbook(fleet, "deploy", extra, "--limit", first.name)
    assert limited.rc == 0, limited.output[-3000:]
    assert fleet.versions() == {first.name: "v3", second.name: "v2"}
    run_id = history(first)[-1]["run"]
    untouched = history(second)
    run, report, said = rollback_under_load(fleet)
    assert (f"Rolling back run {run_id}: {first.name}: removes v3, puts back v2. It did not change {second.name}: "
            f"it stays on v2.") in said, run.output[-3000:]
    assert report.failed == 0, report.summary()
    assert set(fleet.versions().values()) == {"v2"}
    assert history(second) == untouched
    assert [e["status"] for e in history(first) if e["version"] == "v3"] == ["rolled_back"]

    # the next rollback undoes the deployment of v2, on both hosts: not v3 again
    again = run_playbook(fleet, "rollback", {**FAST})
    assert again.rc == 0, again.output[-3000:]
    assert set(fleet.versions().values()) == {"v1"}


def test_a_run_killed_in_its_last_batch_is_put_back_batch_by_batch_then_finished_by_the_next(fleet):
    """A good release, killed once the second (last) batch was switched: the first host serves it, recorded pending
    like the second. The same command again puts both back, the one out of rotation first so that the other serves
    meanwhile, then deploys the release: no failed request, both hosts on it and recorded succeeded."""
    ensure(fleet, "v1")
    before = lb_view(fleet)
    first, second = fleet.hosts
    extra = kill_after_a_switch(fleet, "v8good", second, mode="good")
    assert lb_view(fleet)[first.name][0] == "ready" and history(first)[-1]["status"] == "pending"
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", extra)
    report = load.snapshot()
    said = re.sub(r"\s+", " ", run.output)
    assert run.rc == 0, run.output[-3000:]
    assert (f"A dead run left hosts on a release it never finished deploying: {first.name}: v8good -> v1, "
            f"{second.name}: v8good -> v1;") in said, run.output[-3000:]
    recovered = re.findall(r"TASK \[lastmile\.deploy\.service : Switch current and restart the service[^\]]*\][^\n]*\n"
                           r"changed: \[(\w+)\]", run.output)
    # put back: the host out of rotation first; then the run's own batches
    assert recovered == [second.name, first.name, first.name, second.name], recovered
    assert report.failed == 0, report.summary()
    assert set(fleet.versions().values()) == {"v8good"}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    for host in fleet.hosts:
        assert [e["status"] for e in history(host) if e["version"] == "v8good"] == ["failed", "succeeded"], host.name
