# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks shared by the scenarios whose deployment ends with every host on the new release:
imported by their tests/test_<scenario>.py, which pytest then collects them from."""
from __future__ import annotations

from conftest import NEW, assert_on_release, last_deployment, versions_served


def test_host_runs_the_new_release(host):
    assert_on_release(host, NEW)


def test_host_records_the_deployment_as_succeeded(host):
    entry = last_deployment(host)
    assert (entry["version"], entry["status"]) == (NEW, "succeeded"), entry


def test_every_server_is_back_in_rotation_with_its_weight(lb, lb_before, app_hosts):
    assert sorted(lb) == sorted(app_hosts)
    for name in app_hosts:
        assert lb[name] == {"admin": "ready", "weight": lb_before[name]["weight"], "up": True}, (name, lb, lb_before)


def test_front_door_serves_only_the_new_release(front_door):
    assert set(versions_served(front_door)) == {NEW}
