# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import re

from ansible_collections.lastmile.deploy.plugins.modules.host_capacity import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

RELAXED = dict(min_disk_free_percent=0, max_cpu_percent=100, max_memory_percent=100, cpu_sample_seconds=0.05)
FIGURES = ("disk_free_percent", "cpu_percent", "memory_used_percent")


def test_passes_with_relaxed_thresholds_and_reports_figures(tmp_path, capsys):
    rc, result = run_in_process(main, dict(RELAXED, path=str(tmp_path)), capsys)
    assert rc == 0, result
    assert result["changed"] is False and result["failures"] == []
    for name in FIGURES:
        assert 0.0 <= result[name] <= 100.0
    assert len(result["load_average"]) == 3


def test_check_mode_measures_the_same_way(tmp_path, capsys):
    rc, result = run_in_process(main, dict(RELAXED, path=str(tmp_path)), capsys, check_mode=True)
    assert rc == 0 and result["changed"] is False
    assert set(FIGURES) <= set(result)


def test_fails_naming_every_unmet_threshold(tmp_path, capsys):
    args = dict(path=str(tmp_path), min_disk_free_percent=100, max_cpu_percent=100,
                max_memory_percent=0, cpu_sample_seconds=0.05)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert len(result["failures"]) == 2
    assert re.search(r"disk free on " + re.escape(str(tmp_path)) + r" is [\d.]+% \(minimum 100%\)", result["msg"])
    assert re.search(r"memory used is [\d.]+% \(maximum 0%\)", result["msg"])
    assert result["msg"].startswith("not enough capacity: ")
    assert "disk_free_percent" in result


def test_path_not_created_yet_is_measured_on_its_parent_and_named(tmp_path, capsys):
    missing = str(tmp_path / "opt" / "absent")
    rc, result = run_in_process(main, dict(RELAXED, path=missing), capsys)
    assert rc == 0, result
    assert 0.0 <= result["disk_free_percent"] <= 100.0
    rc, result = run_in_process(main, dict(RELAXED, path=missing, min_disk_free_percent=100), capsys)
    assert rc == 1
    assert "disk free on %s is" % missing in result["msg"]


def test_threshold_out_of_range_is_named(tmp_path, capsys):
    rc, result = run_in_process(main, dict(RELAXED, path=str(tmp_path), max_cpu_percent=150), capsys)
    assert rc == 1
    assert result["msg"] == "max_cpu_percent must be between 0 and 100, got 150.0"


def test_through_ansible_cli(tmp_path):
    rc, result = run_ansible("host_capacity", dict(RELAXED, path=str(tmp_path)), check_mode=True)
    assert rc == 0, result
    assert result["changed"] is False and result["failures"] == []
    rc, result = run_ansible("host_capacity", dict(RELAXED, path=str(tmp_path), min_disk_free_percent=100))
    assert rc != 0
    assert "(minimum 100%)" in result["msg"]
