# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After a promoted canary of v2: every host on v2, and every server back in rotation with exactly
the weight it had before the run (60 and 80, not a default)."""
from __future__ import annotations

from conftest import NEW, assert_on_release, last_deployment, versions_served

testinfra_hosts = ["ansible://app"]


def test_host_runs_the_new_release(host):
    assert_on_release(host, NEW)


def test_host_records_the_deployment_as_succeeded(host):
    entry = last_deployment(host)
    assert (entry["version"], entry["status"]) == (NEW, "succeeded"), entry


def test_weights_are_back_where_they_began(lb, lb_before, app_hosts):
    assert sorted(lb) == sorted(app_hosts)
    assert {name: state["weight"] for name, state in lb_before.items()} == {"app1": 60, "app2": 80}, lb_before
    for name in app_hosts:
        assert lb[name] == {"admin": "ready", "weight": lb_before[name]["weight"], "up": True}, (name, lb, lb_before)


def test_front_door_serves_only_the_new_release(front_door):
    assert set(versions_served(front_door)) == {NEW}
