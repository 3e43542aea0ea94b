"""Blue-green on the fleet: blue = app1, green = app2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from conftest import host_state, run_playbook
from helpers import FAST, check_run, deploy, ensure, history

from fleet.playbook import REPO, ansible_env

FLEET_HOSTS = 2  # one host per colour


@pytest.fixture(scope="module")
def colours(fleet, tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory") / "colours.yml"
    blue, green = [h.name for h in fleet.hosts[:1]], [h.name for h in fleet.hosts[1:]]
    path.write_text(
        "blue:\n  hosts:\n" + "".join(f"    {h}: {{}}\n" for h in blue)
        + "green:\n  hosts:\n" + "".join(f"    {h}: {{}}\n" for h in green)
    )
    return ("-i", str(path)), blue, green


def weights(fleet):
    return {name: s["weight"] for name, s in fleet.haproxy.server_states().items()}


def test_idle_colour_takes_all_traffic_and_old_colour_keeps_running(fleet, colours):
    inventory, blue, green = colours
    ensure(fleet, "v1")
    with fleet.load() as load:
        # the watch after the switch at its default, 3 s
        run = deploy(fleet, "v2", args=inventory, deploy_strategy="blue_green", deploy_batch_observe_seconds=3)
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.failed == 0, report
    assert re.search(r"TASK \[lastmile\.deploy\.verify : Watch the new colour serve users against the colour before it\]"
                     r"[^\n]*\nok: ", run.output), run.output[-3000:]
    versions = fleet.versions()
    assert {versions[h] for h in green} == {"v2"} and {versions[h] for h in blue} == {"v1"}
    lb = fleet.haproxy.server_states()
    assert {lb[h]["weight"] for h in green} == {100} and {lb[h]["weight"] for h in blue} == {0}, lb
    assert {lb[h]["admin"] for h in blue + green} == {"ready"}, lb
    with fleet.load() as after:
        time.sleep(1)
    assert set(after.snapshot().versions) == {"v2"}, after.snapshot()
    assert "green (app2) now serves v2" in run.output


def test_same_blue_green_deployment_again_changes_nothing(fleet, colours):
    inventory = colours[0]
    before = weights(fleet)
    run = deploy(fleet, "v2", args=inventory, deploy_strategy="blue_green")
    assert run.rc == 0, run.output[-3000:]
    assert run.total_changed() == 0, run.recap
    assert weights(fleet) == before


def test_check_mode_states_the_switch_of_colours_and_moves_no_traffic(fleet, colours):
    inventory, blue, green = colours
    artifact = fleet.build_release("v4c")
    said = check_run(fleet, "deploy", {**FAST, "deploy_version": "v4c", "deploy_artifact": str(artifact.path),
                                       "deploy_checksum": artifact.checksum, "deploy_strategy": "blue_green"}, *inventory)[1]
    assert re.search(r"The deployment of sample v4c would switch the idle colour blue \(%s: v\d -> v4c\) and verify it, "
                     r"then give it all traffic and green \(%s\) weight 0, in one load-balancer round trip\."
                     % (blue[0], green[0]), said), said


def test_rollback_switches_back_in_one_round_trip_without_failed_requests(fleet, colours):
    inventory, blue, green = colours
    with fleet.load() as load:
        run = run_playbook(fleet, "rollback", {**FAST}, *inventory)
    assert run.rc == 0, run.output[-3000:]
    assert load.snapshot().failed == 0, load.snapshot()
    lb = fleet.haproxy.server_states()
    assert {lb[h]["weight"] for h in blue} == {100} and {lb[h]["weight"] for h in green} == {0}, lb
    for host in green:
        assert history(fleet.host(host))[-1]["status"] == "rolled_back"
    said = re.sub(r"\s+", " ", run.output)
    statement = f"This rollback removes v2 (green: {', '.join(green)}) and puts back v1 (blue: {', '.join(blue)})."
    assert statement in said, run.output[-3000:]
    assert said.index(statement) < said.index("Give the previous colour all traffic"), "said after the switch"


def test_a_second_rollback_is_refused_saying_when_the_first_one_was(fleet, colours):
    """Not a toggle: green's v2 was rolled back, so rolling back again does not put it live."""
    inventory, blue, green = colours
    rolled_back_at = {h: history(fleet.host(h))[-1] for h in green}
    assert {e["status"] for e in rolled_back_at.values()} == {"rolled_back"}
    before = host_state(fleet)
    with fleet.load() as load:
        run = run_playbook(fleet, "rollback", {**FAST}, *inventory)
    assert run.rc != 0, run.output[-3000:]
    assert host_state(fleet) == before, "a refused rollback changed hosts or the LB"
    assert load.snapshot().failed == 0 and set(load.snapshot().versions) == {"v1"}, load.snapshot().summary()
    said = re.sub(r"\s+", " ", run.output)
    listed = "; ".join(f"{h}: v2 was rolled back at {e['finished_at']}" for h, e in rolled_back_at.items())
    assert f"green serves a deployment that was already rolled back: {listed}." in said, run.output[-3000:]


def test_next_blue_green_deployment_goes_to_the_idle_colour(fleet, colours):
    inventory, blue, green = colours
    with fleet.load() as load:
        run = deploy(fleet, "v3", args=inventory, deploy_strategy="blue_green")
    assert run.rc == 0, run.output[-3000:]
    assert load.snapshot().failed == 0
    versions = fleet.versions()
    assert {versions[h] for h in green} == {"v3"} and {versions[h] for h in blue} == {"v1"}
    lb = fleet.haproxy.server_states()
    assert {lb[h]["weight"] for h in green} == {100} and {lb[h]["weight"] for h in blue} == {0}, lb


def test_blue_green_of_a_release_that_never_starts_keeps_the_live_colour(fleet, colours):
    inventory, blue, green = colours
    before = weights(fleet)
    with fleet.load() as load:
        run = deploy(fleet, "v4bad", mode="nostart", args=inventory, deploy_strategy="blue_green",
                     deploy_health_timeout=5)
    assert run.rc != 0
    assert load.snapshot().failed == 0, load.snapshot()
    assert "rolled back" in run.output
    assert weights(fleet) == before
    versions = fleet.versions()
    assert {versions[h] for h in green} == {"v3"}


def test_a_release_that_fails_only_what_users_ask_for_is_switched_back_at_the_defaults(fleet, colours):
    """/health answers 200 while / fails 30 % of requests: the new colour is watched for deploy_batch_observe_seconds
    (default 3 s) after the switch against the live colour's figures before it, fails there, and the traffic goes
    back to the colour that served before in the same instant."""
    inventory, blue, green = colours
    before = weights(fleet)
    live = fleet.versions()
    bad = fleet.build_release("v9err", mode="errors")
    extra = {**{k: v for k, v in FAST.items() if k != "deploy_batch_observe_seconds"}, "deploy_strategy": "blue_green",
             "deploy_version": "v9err", "deploy_artifact": str(bad.path), "deploy_checksum": bad.checksum}
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", extra, *inventory)
    report = load.snapshot()
    assert run.rc != 0, run.output[-3000:]
    said = re.sub(r"\s+", " ", run.output)
    assert re.search(r"Watch the new colour serve users against the colour before it \(release v9err\): judging the LB "
                     r"counters of backend 'sample' failed \(new colour %s over 3\.\d+s vs the earlier stable figures "
                     r"\(before the switch\)\): .*new colour error rate 0\.\d+ \(\d+/\d+\) > max_error_rate 0\.001"
                     % blue[0], said), run.output[-3000:]
    assert "rolled back" in said
    fleet.wait_lb(status="UP")
    assert weights(fleet) == before
    assert fleet.versions() == live
    # users met the release for one window, on the colour that took all traffic
    assert 0 < report.failed < 0.2 * report.total, report.summary()
    idle = [h for h in fleet.hosts if h.name in blue]
    assert {e["version"]: e["status"] for e in history(idle[0])}["v9err"] == "failed"


def test_a_blue_green_rollback_after_its_deployment_in_one_playbook_moves_no_batch(fleet, colours, tmp_path):
    """A site playbook deploys blue-green, then rolls back, with role variables private: the rollback
    switches the colours back in its preparing play and hands no plan on (not the deployment's), so no
    batch play moves a host, the traffic is where it was before the deployment and no lock is left."""
    inventory = colours[0]
    ensure(fleet, "v1")
    before = weights(fleet)
    artifact = fleet.build_release("v5")
    release = {"deploy_strategy": "blue_green", "deploy_version": "v5", "deploy_artifact": str(artifact.path),
               "deploy_checksum": artifact.checksum}
    site = tmp_path / "site.yml"
    site.write_text("---\n- ansible.builtin.import_playbook: lastmile.deploy.deploy\n  vars: %s\n"
                    "- ansible.builtin.import_playbook: lastmile.deploy.rollback\n" % json.dumps(release))
    run = subprocess.run(
        [str(sys.executable.rsplit("/", 1)[0] + "/ansible-playbook"), "-i", str(fleet.inventory_path), *inventory,
         str(site), "-e", json.dumps(FAST)],
        cwd=REPO, env=dict(ansible_env(), ANSIBLE_PRIVATE_ROLE_VARS="True"), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "now serves v5" in run.stdout, run.stdout[-4000:]
    assert re.search(r"PLAY \[Roll back batch by batch\] \**\nskipping: no hosts matched", run.stdout), run.stdout[-4000:]
    assert weights(fleet) == before
    state = host_state(fleet)
    assert not any(state[host.name]["lock"] for host in fleet.hosts), state
