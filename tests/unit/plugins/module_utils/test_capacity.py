# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.figures import (
    CapacityError,
    check_capacity,
    cpu_busy_between,
    cpu_busy_percent,
    disk_free_percent,
    existing_parent,
    judge_capacity,
    load_average,
    memory_used_percent,
    read_capacity,
    read_cpu_times,
    read_meminfo,
    report_from_figures,
)

MEMINFO = """MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    2000000 kB
Buffers:          100000 kB
Cached:          1000000 kB
HugePages_Total:       0
"""
MEMINFO_OLD_KERNEL = """MemTotal:        1000 kB
MemFree:          100 kB
Buffers:           50 kB
Cached:           150 kB
"""
# user nice system idle iowait irq softirq steal guest guest_nice
STAT_BEFORE = "cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 50 0 50 350 50 0 0 0 25 0\nintr 1 2 3\n"
STAT_AFTER = "cpu  400 0 200 1000 200 100 0 100 300 0\ncpu0 200 0 100 500 100 50 0 50 150 0\nintr 4 5 6\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


class FileSwap:
    """A sleep stand-in that rewrites the /proc/stat fixture between the two reads."""

    def __init__(self, path, text):
        self.path, self.text, self.slept = path, text, []

    def __call__(self, seconds):
        self.slept.append(seconds)
        with open(self.path, "w") as handle:
            handle.write(self.text)


@pytest.fixture
def proc(tmp_path):
    return dict(
        meminfo_path=write(tmp_path, "meminfo", MEMINFO),
        stat_path=write(tmp_path, "stat", STAT_BEFORE),
        loadavg_path=write(tmp_path, "loadavg", "0.52 0.41 0.30 2/345 6789\n"),
    )


def test_read_meminfo_parses_kb_and_plain_numbers(tmp_path):
    info = read_meminfo(write(tmp_path, "meminfo", MEMINFO))
    assert info["MemTotal"] == 8000000
    assert info["HugePages_Total"] == 0


def test_memory_used_percent_from_mem_available(tmp_path):
    assert memory_used_percent(write(tmp_path, "meminfo", MEMINFO)) == pytest.approx(75.0)


def test_memory_used_percent_without_mem_available(tmp_path):
    # available = 100 + 50 + 150 = 300 of 1000
    assert memory_used_percent(write(tmp_path, "meminfo", MEMINFO_OLD_KERNEL)) == pytest.approx(70.0)


def test_memory_without_total_names_file(tmp_path):
    path = write(tmp_path, "meminfo", "MemFree: 10 kB\n")
    with pytest.raises(CapacityError, match="%s has no usable MemTotal" % path):
        memory_used_percent(path)


def test_missing_proc_file_names_path(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(CapacityError, match="cannot read %s" % missing):
        memory_used_percent(missing)


def test_read_cpu_times_counts_iowait_as_idle_and_skips_guest(tmp_path):
    # total = 100+0+100+700+100+0+0+0 (guest excluded), idle = 700 + 100
    assert read_cpu_times(write(tmp_path, "stat", STAT_BEFORE)) == (1000, 800)


def test_read_cpu_times_short_line_of_old_kernels(tmp_path):
    assert read_cpu_times(write(tmp_path, "stat", "cpu  10 0 10 80\n")) == (100, 80)


def test_read_cpu_times_without_cpu_line(tmp_path):
    path = write(tmp_path, "stat", "cpu0 1 2 3 4\n")
    with pytest.raises(CapacityError, match="%s has no aggregate 'cpu' line" % path):
        read_cpu_times(path)


def test_cpu_busy_between():
    assert cpu_busy_between((1000, 800), (2000, 1200)) == pytest.approx(60.0)
    assert cpu_busy_between((1000, 800), (1000, 800)) == 0.0


def test_cpu_busy_percent_reads_twice_around_the_sample(tmp_path):
    path = write(tmp_path, "stat", STAT_BEFORE)
    swap = FileSwap(path, STAT_AFTER)
    # after: total = 400+0+200+1000+200+100+0+100 = 2000, idle = 1200 -> delta 1000 total, 400 idle
    assert cpu_busy_percent(0.25, path, sleep=swap) == pytest.approx(60.0)
    assert swap.slept == [0.25]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), 60.5, 1e300, True, "1"])
def test_cpu_busy_percent_refuses_a_sample_time_it_cannot_wait_for(tmp_path, seconds):
    slept = []
    with pytest.raises(CapacityError, match=r"cpu_sample_seconds must be a number of seconds greater than 0 and at most 60, got "):
        cpu_busy_percent(seconds, write(tmp_path, "stat", STAT_BEFORE), sleep=slept.append)
    assert slept == []


def test_cpu_busy_percent_real_proc_is_a_percentage():
    assert 0.0 <= cpu_busy_percent(0.05) <= 100.0


def test_load_average(tmp_path):
    assert load_average(write(tmp_path, "loadavg", "1.50 0.75 0.25 1/100 42\n")) == (1.5, 0.75, 0.25)


def test_load_average_garbage_names_file(tmp_path):
    path = write(tmp_path, "loadavg", "n/a\n")
    with pytest.raises(CapacityError, match=path):
        load_average(path)


def test_disk_free_percent_matches_statvfs(tmp_path):
    stats = os.statvfs(str(tmp_path))
    assert disk_free_percent(str(tmp_path)) == pytest.approx(100.0 * stats.f_bavail / stats.f_blocks, abs=0.5)


def test_check_capacity_all_within_thresholds(tmp_path, proc):
    swap = FileSwap(proc["stat_path"], STAT_AFTER)
    report = check_capacity(str(tmp_path), min_disk_free_percent=0, max_cpu_percent=90,
                            max_memory_percent=90, sample_seconds=0.5, sleep=swap, **proc)
    assert report.ok and report.failures == []
    assert report.cpu_percent == pytest.approx(60.0)
    assert report.memory_used_percent == pytest.approx(75.0)
    assert report.load_average == (0.52, 0.41, 0.30)
    figures = report.as_dict()
    assert figures["load_average"] == [0.52, 0.41, 0.30]
    assert figures["path"] == str(tmp_path)


def test_check_capacity_lists_every_failure_with_value_and_threshold(tmp_path, proc):
    swap = FileSwap(proc["stat_path"], STAT_AFTER)
    report = check_capacity(str(tmp_path), min_disk_free_percent=100, max_cpu_percent=50,
                            max_memory_percent=70, sample_seconds=0.5, sleep=swap, **proc)
    assert not report.ok
    assert len(report.failures) == 3
    disk, cpu, memory = report.failures
    assert disk.startswith("disk free on %s is " % tmp_path) and "(minimum 100%)" in disk
    assert cpu == "CPU busy is 60.0% over 0.5s (maximum 50%)"
    assert memory == "memory used is 75.0% (maximum 70%)"


def test_check_capacity_only_the_failing_metric(tmp_path, proc):
    swap = FileSwap(proc["stat_path"], STAT_AFTER)
    report = check_capacity(str(tmp_path), min_disk_free_percent=0, max_cpu_percent=59.5,
                            max_memory_percent=80, sleep=swap, **proc)
    assert report.failures == ["CPU busy is 60.0% over 1s (maximum 59.5%)"]


@pytest.mark.parametrize("name", ["min_disk_free_percent", "max_cpu_percent", "max_memory_percent"])
def test_check_capacity_rejects_thresholds_outside_0_100(tmp_path, proc, name):
    with pytest.raises(CapacityError, match="%s must be between 0 and 100, got 150" % name):
        check_capacity(str(tmp_path), **{name: 150}, **proc)


def test_disk_free_percent_of_a_path_not_created_yet_uses_its_parent(tmp_path):
    missing = tmp_path / "opt" / "app" / "not-yet"
    assert existing_parent(str(missing)) == str(tmp_path)
    assert 0 <= disk_free_percent(str(missing)) <= 100


def test_figures_read_earlier_are_judged_like_a_fresh_reading(tmp_path, proc):
    fresh = check_capacity(str(tmp_path), min_disk_free_percent=0, max_cpu_percent=50,
                           max_memory_percent=1, sample_seconds=1, sleep=lambda s: None, **proc)
    figures = read_capacity(str(tmp_path), 1, sleep=lambda s: None, **proc).as_dict()
    judged = judge_capacity(report_from_figures(figures, "/elsewhere"), 0, 50, 1, sample_seconds=1)
    assert judged.failures == fresh.failures and judged.failures
    assert judged.path == str(tmp_path)  # the figures name the path they were read on


@pytest.mark.parametrize("figures, expected", [
    ({"disk_free_percent": True, "cpu_percent": 1, "memory_used_percent": 1}, "figures.disk_free_percent"),
    ({"disk_free_percent": "12.5", "cpu_percent": 1, "memory_used_percent": 1, "load_average": "high"},
     "figures.load_average must be three numbers"),
])
def test_figures_that_are_not_numbers_are_named(figures, expected):
    with pytest.raises(CapacityError, match=expected):
        report_from_figures(figures, "/opt/shop")


def test_numeric_strings_count_as_figures():
    report = report_from_figures({"disk_free_percent": "12.5", "cpu_percent": 3, "memory_used_percent": 4.0}, "/opt")
    assert (report.disk_free_percent, report.path, report.load_average) == (12.5, "/opt", (0.0, 0.0, 0.0))
