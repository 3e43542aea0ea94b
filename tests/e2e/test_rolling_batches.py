"""Rolling deployments in batches of several hosts, at the defaults but the batch size: each batch gets its
traffic back, is watched and takes the next batch out in one task that its first host sends for all of them, and
each server of the batch is judged on its own."""

from __future__ import annotations

import re

from conftest import run_playbook
from helpers import FAST, ensure, history

FLEET_HOSTS = 4  # two batches of two

BATCH = {"deploy_batch": 2}
GIVE_BACK = ("Give the batch back its HAProxy state and weight, then watch it serve users, then take the next batch "
             "out")


def at_the_defaults(version, artifact):
    """The extra vars of a run at the collection's defaults, but what the test fleet forces and the batch size."""
    return {**{k: v for k, v in FAST.items() if k != "deploy_batch_observe_seconds"}, **BATCH,
            "deploy_version": version, "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum}


def give_back_results(output):
    """[{host: its first result line}] for each pass of the task that gives a batch its traffic back, in order."""
    passes = re.findall(r"TASK \[lastmile\.deploy\.traffic : %s[^\]]*\][^\n]*\n((?:(?!TASK \[|PLAY ).*\n)*)"
                        % re.escape(GIVE_BACK), output)
    results = []
    for block in passes:
        found = {}
        for line, host in re.findall(r"^((?:ok|changed|failed|fatal): \[(\w+)(?: -> \w+)?\].*)$", block, re.M):
            found.setdefault(host, line)
        results.append(found)
    return results


def test_batches_of_two_roll_out_under_load_without_a_failed_request(fleet):
    ensure(fleet, "v1")
    good = fleet.build_release("v2")
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", at_the_defaults("v2", good))
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.total > 200 and report.failed == 0, report.summary()
    assert set(fleet.versions().values()) == {"v2"}
    names = [host.name for host in fleet.hosts]
    # one task a batch gives it back: every host of the batch has its result from the run the first one sent
    assert [sorted(results) for results in give_back_results(run.output)] == [names[:2], names[2:]], run.output[-4000:]
    for host in fleet.hosts:
        assert history(host)[-1]["version"] == "v2" and history(host)[-1]["status"] == "succeeded"
    lb = fleet.haproxy.server_states()
    assert {(state["admin"], state["weight"]) for state in lb.values()} == {("ready", 100)}, lb


def test_one_bad_server_of_a_batch_fails_its_own_host_only_and_the_run_is_rolled_back(fleet):
    """The release fails 30 % of what users ask, on the second host only. Each server of the first batch is judged
    on its own: the second host's fails its task, the first host's passes and its task does not fail; the run then
    puts both back, and the next batch never runs the release."""
    ensure(fleet, "v1")
    first, second, third, fourth = fleet.hosts
    bad = fleet.build_release("v9one", mode="errors", errors_on=second.address)
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", at_the_defaults("v9one", bad))
    report = load.snapshot()
    assert run.rc != 0, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v1"}
    said = re.sub(r"\s+", " ", run.output)
    assert re.search(r"%s: %s \(release v9one\): lb1: judging the LB counters of backend 'sample' failed \(batch %s, %s "
                     r"vs rest of the fleet %s, %s over 3\.\d+s; each server on its own, stopped by %s\): batch server %s "
                     r"error rate 0\.\d+ \(\d+/\d+\) > max_error_rate 0\.001"
                     % (second.name, re.escape(GIVE_BACK), first.name, second.name, third.name, fourth.name,
                        second.name, second.name), said), run.output[-4000:]
    # the first host's server passed: its task did not fail
    first_pass = give_back_results(run.output)[0]
    assert first_pass[first.name].startswith("changed:") and first_pass[second.name].startswith("failed:"), first_pass
    assert not re.search(r"batch server %s error rate [^;\"]* > max_error_rate" % first.name, said), run.output[-4000:]
    # the next batch was never taken out, and users met the release on one server for one window
    assert f"sample/{third.name} state drain" not in said, run.output[-3000:]
    assert 0 < report.failed < 0.1 * report.total, report.summary()
    for host in (first, second):
        assert {e["version"]: e["status"] for e in history(host)}["v9one"] == "failed", host.name
    for host in (third, fourth):
        assert "v9one" not in {e["version"] for e in history(host)}, host.name
    lb = fleet.haproxy.server_states()
    assert {(state["admin"], state["weight"]) for state in lb.values()} == {("ready", 100)}, lb


def test_with_one_fork_the_first_host_sends_before_the_others_wait(fleet):
    """With fewer forks than hosts a batch, a host that waits holds a fork: the first host of the batch, the one
    that sends, must be the first the strategy starts, or the others would wait for a result that cannot come."""
    ensure(fleet, "v1")
    good = fleet.build_release("v3")
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", at_the_defaults("v3", good), "--forks", "1")
    assert run.rc == 0, run.output[-3000:]
    assert load.snapshot().failed == 0, load.snapshot().summary()
    assert set(fleet.versions().values()) == {"v3"}
    assert "did not start it within" not in run.output
    assert [sorted(results) for results in give_back_results(run.output)] == [
        [host.name for host in fleet.hosts[:2]], [host.name for host in fleet.hosts[2:]]]
