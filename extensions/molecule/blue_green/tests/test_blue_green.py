# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After a blue-green deployment of v2 from live blue: green runs v2 and takes all traffic, blue
still runs v1 at weight 0, ready to take the traffic back."""
from __future__ import annotations

from conftest import NEW, OLD, assert_on_release, last_deployment, versions_served

testinfra_hosts = ["ansible://app"]


def colour(host) -> str:
    groups = host.ansible.get_variables()["group_names"]
    assert ("blue" in groups) != ("green" in groups), groups
    return "green" if "green" in groups else "blue"


def test_green_runs_the_new_release_and_blue_keeps_the_old_one_running(host):
    assert_on_release(host, NEW if colour(host) == "green" else OLD)


def test_green_records_the_deployment_as_succeeded(host):
    if colour(host) == "green":
        entry = last_deployment(host)
        assert (entry["version"], entry["status"]) == (NEW, "succeeded"), entry


def test_green_takes_the_traffic_and_blue_has_weight_zero(lb, lb_before, fleet_vars):
    blue, green = fleet_vars["groups"]["blue"], fleet_vars["groups"]["green"]
    assert {lb_before[name]["weight"] for name in green} == {0}, lb_before  # green was the idle colour
    for name in green:
        assert lb[name] == {"admin": "ready", "weight": 100, "up": True}, (name, lb)
    for name in blue:
        # out of traffic, yet up: HAProxy's health checks still reach the old release
        assert lb[name] == {"admin": "ready", "weight": 0, "up": True}, (name, lb)


def test_front_door_serves_only_the_new_release(front_door):
    assert set(versions_served(front_door)) == {NEW}
