# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After a rolling deployment of v2: every host on v2, every server back in rotation with the
weight it had before the run, and the front door serving only v2."""
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
]
