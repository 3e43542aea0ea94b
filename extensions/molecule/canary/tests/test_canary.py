# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After a promoted canary of v2: every host on v2, and every server back in rotation with exactly
the weight it had before the run (60 and 80, not a default)."""
from __future__ import annotations

from converged import (
    test_every_server_is_back_in_rotation_with_its_weight,
    test_front_door_serves_only_the_new_release,
    test_host_records_the_deployment_as_succeeded,
    test_host_runs_the_new_release,
)

testinfra_hosts = ["ansible://app"]
__all__ = [
    "test_every_server_is_back_in_rotation_with_its_weight",
    "test_front_door_serves_only_the_new_release",
    "test_host_records_the_deployment_as_succeeded",
    "test_host_runs_the_new_release",
    "test_weights_are_the_ones_set_before_the_run",
]


def test_weights_are_the_ones_set_before_the_run(lb_before):
    """The prepare step's weights, so that a restore to a default weight could not pass."""
    assert {name: state["weight"] for name, state in lb_before.items()} == {"app1": 60, "app2": 80}, lb_before
