# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host capacity figures (disk, CPU, memory, load) from statvfs and Linux /proc.

Standard library only: this runs on application hosts. Every reader takes its /proc path as
a parameter so tests can feed fixture files.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

PROC_MEMINFO = "/proc/meminfo"
PROC_STAT = "/proc/stat"
PROC_LOADAVG = "/proc/loadavg"
# the longest CPU sample a run waits for on each host
MAX_SAMPLE_SECONDS = 60


class CapacityError(LastmileError):
    """A capacity figure cannot be read or a threshold is out of range."""


@dataclass
class CapacityReport:
    """Measured figures and the thresholds they failed (empty ``failures`` = enough capacity)."""

    path: str
    disk_free_percent: float
    cpu_percent: float
    memory_used_percent: float
    load_average: Tuple[float, float, float]
    failures: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        figures = asdict(self)
        figures["load_average"] = list(self.load_average)
        return figures


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise CapacityError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc


def existing_parent(path: str) -> str:
    """``path`` itself, or its nearest existing parent (a deploy root may not exist yet)."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def disk_free_percent(path: str) -> float:
    """Percentage of the filesystem holding ``path`` (or its nearest existing parent) that
    unprivileged users can still use."""
    try:
        stats = os.statvfs(existing_parent(path))
    except OSError as exc:
        raise CapacityError("cannot stat filesystem of %s: %s" % (path, exc.strerror or exc)) from exc
    if stats.f_blocks == 0:
        raise CapacityError("filesystem of %s reports a size of 0 blocks" % path)
    # f_bavail, not f_bfree: blocks reserved for root are not available to the application
    # the share first: a float quotient of a <= b is <= 1, so the percentage never passes 100
    return 100.0 * (stats.f_bavail / stats.f_blocks)


def read_meminfo(meminfo_path: str = PROC_MEMINFO) -> Dict[str, int]:
    """Parse /proc/meminfo into {field: kB}."""
    values = {}
    for line in _read(meminfo_path).splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts:
            try:
                values[name.strip()] = int(parts[0])
            except ValueError:
                continue
    return values


def memory_used_percent(meminfo_path: str = PROC_MEMINFO) -> float:
    """100 * (1 - MemAvailable / MemTotal).

    Kernels older than 3.14 lack MemAvailable; MemFree + Buffers + Cached stands in for it.
    """
    info = read_meminfo(meminfo_path)
    total = info.get("MemTotal")
    if not total:
        raise CapacityError("%s has no usable MemTotal line" % meminfo_path)
    if "MemAvailable" in info:
        available = info["MemAvailable"]
    else:
        available = info.get("MemFree", 0) + info.get("Buffers", 0) + info.get("Cached", 0)
    return 100.0 * (1.0 - float(available) / total)


def read_cpu_times(stat_path: str = PROC_STAT) -> Tuple[int, int]:
    """Return (total, idle) jiffies from the aggregate ``cpu`` line of /proc/stat.

    total = user + nice + system + idle + iowait + irq + softirq + steal; guest time is
    already counted in user/nice. idle includes iowait: waiting on I/O is not CPU work.
    """
    for line in _read(stat_path).splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            try:
                ticks = [int(value) for value in parts[1:9]]
            except ValueError:
                break
            if len(ticks) < 4:
                break
            ticks += [0] * (8 - len(ticks))
            return sum(ticks), ticks[3] + ticks[4]
    raise CapacityError("%s has no aggregate 'cpu' line with numeric fields" % stat_path)


def cpu_busy_between(first: Tuple[int, int], second: Tuple[int, int]) -> float:
    """Busy percentage between two (total, idle) readings."""
    total = second[0] - first[0]
    idle = second[1] - first[1]
    if total <= 0:
        return 0.0
    # iowait may go down between two reads (proc(5)), so idle + iowait can fall: keep to 0..100
    return min(100.0, max(0.0, 100.0 * (total - idle) / total))


def check_sample_seconds(sample_seconds: float, option: str = "cpu_sample_seconds") -> float:
    """``sample_seconds`` when it is a time the CPU can be sampled over (above 0, at most
    MAX_SAMPLE_SECONDS); else CapacityError naming ``option`` and the value."""
    number = not isinstance(sample_seconds, bool) and isinstance(sample_seconds, (int, float))
    if not (number and math.isfinite(sample_seconds) and 0 < sample_seconds <= MAX_SAMPLE_SECONDS):
        raise CapacityError("%s must be a number of seconds greater than 0 and at most %d, got %r"
                            % (option, MAX_SAMPLE_SECONDS, sample_seconds))
    return sample_seconds


def cpu_busy_percent(
    sample_seconds: float,
    stat_path: str = PROC_STAT,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """CPU busy percentage over ``sample_seconds``, from two reads of /proc/stat."""
    check_sample_seconds(sample_seconds)
    first = read_cpu_times(stat_path)
    sleep(sample_seconds)
    return cpu_busy_between(first, read_cpu_times(stat_path))


def load_average(loadavg_path: str = PROC_LOADAVG) -> Tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    parts = _read(loadavg_path).split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise CapacityError("%s does not start with three load averages" % loadavg_path) from None


def _check_percent(name: str, value: float) -> float:
    if not 0 <= value <= 100:
        raise CapacityError("%s must be between 0 and 100, got %r" % (name, value))
    return value


def check_thresholds(min_disk_free_percent: float, max_cpu_percent: float, max_memory_percent: float) -> None:
    """Raise CapacityError naming a threshold outside 0-100."""
    _check_percent("min_disk_free_percent", min_disk_free_percent)
    _check_percent("max_cpu_percent", max_cpu_percent)
    _check_percent("max_memory_percent", max_memory_percent)


def read_capacity(
    path: str,
    sample_seconds: float = 1.0,
    meminfo_path: str = PROC_MEMINFO,
    stat_path: str = PROC_STAT,
    loadavg_path: str = PROC_LOADAVG,
    sleep: Callable[[float], None] = time.sleep,
) -> CapacityReport:
    """Measure disk, CPU, memory and load, judging nothing yet."""
    return CapacityReport(
        path=path,
        disk_free_percent=round(disk_free_percent(path), 2),
        memory_used_percent=round(memory_used_percent(meminfo_path), 2),
        cpu_percent=round(cpu_busy_percent(sample_seconds, stat_path, sleep), 2),
        load_average=load_average(loadavg_path),
    )


def judge_capacity(
    report: CapacityReport,
    min_disk_free_percent: float = 20,
    max_cpu_percent: float = 70,
    max_memory_percent: float = 80,
    sample_seconds: float = 1.0,
) -> CapacityReport:
    """List in ``report.failures`` every threshold its figures do not meet."""
    check_thresholds(min_disk_free_percent, max_cpu_percent, max_memory_percent)
    report.failures = []
    if report.disk_free_percent < min_disk_free_percent:
        report.failures.append(
            "disk free on %s is %s%% (minimum %g%%)"
            % (report.path, report.disk_free_percent, min_disk_free_percent)
        )
    if report.cpu_percent > max_cpu_percent:
        report.failures.append(
            "CPU busy is %s%% over %gs (maximum %g%%)"
            % (report.cpu_percent, sample_seconds, max_cpu_percent)
        )
    if report.memory_used_percent > max_memory_percent:
        report.failures.append(
            "memory used is %s%% (maximum %g%%)" % (report.memory_used_percent, max_memory_percent)
        )
    return report


def check_capacity(
    path: str,
    min_disk_free_percent: float = 20,
    max_cpu_percent: float = 70,
    max_memory_percent: float = 80,
    sample_seconds: float = 1.0,
    meminfo_path: str = PROC_MEMINFO,
    stat_path: str = PROC_STAT,
    loadavg_path: str = PROC_LOADAVG,
    sleep: Callable[[float], None] = time.sleep,
) -> CapacityReport:
    """Measure disk, CPU, memory and load; list every threshold that is not met."""
    # a bad threshold is reported before the CPU sample is waited for
    check_thresholds(min_disk_free_percent, max_cpu_percent, max_memory_percent)
    report = read_capacity(path, sample_seconds, meminfo_path, stat_path, loadavg_path, sleep)
    return judge_capacity(report, min_disk_free_percent, max_cpu_percent, max_memory_percent, sample_seconds)


FIGURES = ("disk_free_percent", "cpu_percent", "memory_used_percent")


def _figure(name: str, value: Any) -> float:
    """``value`` as a finite float; text of a number counts, booleans, NaN and infinities do not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CapacityError("%s must be a number, got %r" % (name, value))
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise CapacityError("%s must be a number, got %r" % (name, value)) from None
    if not math.isfinite(number):
        raise CapacityError("%s must be a finite number, got %r" % (name, value))
    return number


def report_from_figures(figures: dict, path: str) -> CapacityReport:
    """A report from figures read earlier (deploy_lock's ``capacity``); each must be a finite number."""
    values = {name: _figure("figures.%s" % name, figures.get(name)) for name in FIGURES}
    load = figures.get("load_average") or (0.0, 0.0, 0.0)
    if not isinstance(load, (list, tuple)) or len(load) != 3:
        raise CapacityError("figures.load_average must be three numbers, got %r" % (load,))
    load_avg = tuple(_figure("figures.load_average[%d]" % index, x) for index, x in enumerate(load))
    return CapacityReport(path=str(figures.get("path") or path), load_average=load_avg, **values)  # type: ignore[arg-type]
