# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_capacity judging figures read earlier: on the controller, with no module run, through the ansible CLI."""

from __future__ import annotations

import pytest

from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible

FIGURES = {"path": "/opt/shop", "disk_free_percent": 12.5, "cpu_percent": 40.0, "cpu_sample_seconds": 0.5,
           "memory_used_percent": 91.0, "load_average": [0.5, 0.4, 0.3]}


def test_figures_are_judged_without_a_module_run():
    rc, result = run_ansible("host_capacity", {"figures": FIGURES, "max_cpu_percent": 30})
    assert rc != 0
    assert result["msg"] == ("not enough capacity: disk free on /opt/shop is 12.5% (minimum 20%); "
                             "CPU busy is 40.0% over 0.5s (maximum 30%); memory used is 91.0% (maximum 80%)")
    assert result["load_average"] == [0.5, 0.4, 0.3] and len(result["failures"]) == 3
    # a module run always answers with its invocation
    assert "invocation" not in result
    rc, result = run_ansible("host_capacity", {"figures": FIGURES, "min_disk_free_percent": 10,
                                               "max_memory_percent": 95})
    assert rc == 0 and result["failures"] == [] and result["cpu_percent"] == 40.0, result


@pytest.mark.parametrize("figures, expected", [
    ({"disk_free_percent": 50, "cpu_percent": "busy", "memory_used_percent": 1}, "figures.cpu_percent must be a number, got 'busy'"),
    ({"disk_free_percent": 50, "cpu_percent": 1}, "figures.memory_used_percent must be a number, got None"),
    ({"disk_free_percent": 50, "cpu_percent": 1, "memory_used_percent": 1, "load_average": [1]},
     "figures.load_average must be three numbers"),
    ({"disk_free_percent": 50, "cpu_percent": 1, "memory_used_percent": 1, "cpu_sample_seconds": "x"},
     "figures.cpu_sample_seconds must be a number of seconds greater than 0 and at most 60, got 'x'"),
    ({"disk_free_percent": 50, "cpu_percent": 1, "memory_used_percent": 1, "cpu_sample_seconds": float("nan")},
     "figures.cpu_sample_seconds must be a number of seconds greater than 0 and at most 60, got nan"),
])
def test_bad_figures_are_named(figures, expected):
    rc, result = run_ansible("host_capacity", {"figures": figures})
    assert rc != 0 and expected in result["msg"], result


def test_a_bad_threshold_is_named_before_anything_is_read():
    rc, result = run_ansible("host_capacity", {"figures": FIGURES, "max_cpu_percent": 130})
    assert rc != 0 and result["msg"] == "max_cpu_percent must be between 0 and 100, got 130.0", result
