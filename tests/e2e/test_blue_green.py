"""Blue-green on the fleet: blue = app1, green = app2."""

from __future__ import annotations

import re
import time

import pytest

from conftest import host_state, run_playbook
from helpers import FAST, deploy, ensure, history

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
        run = deploy(fleet, "v2", args=inventory, deploy_strategy="blue_green")
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.failed == 0, report
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
