# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of the capacity readers: /proc/meminfo, /proc/stat, /proc/loadavg, statvfs and
figures read earlier.

Well-formed files are rendered from a model of the kernel's layout (padding, units, fields old
and new kernels write, lines the readers must skip) and the figures expected are worked out from
that model. Malformed files and arbitrary bytes must give CapacityError naming the file, never
another exception.
"""

from __future__ import annotations

import math
import os
import string
from typing import Dict, List, Optional, Tuple
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.capacity import figures as _capacity
from ansible_collections.lastmile.deploy.plugins.module_utils.capacity.figures import (
    CapacityError,
    cpu_busy_between,
    cpu_busy_percent,
    disk_free_percent,
    load_average,
    memory_used_percent,
    read_cpu_times,
    read_meminfo,
    report_from_figures,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])
FILE_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=60)

kilobytes = st.integers(0, 2 ** 50)
ticks = st.integers(0, 2 ** 48)


class ProcFile:
    """One fixture file per test, rewritten for each example."""

    def __init__(self, tmp_path_factory, name: str):
        self.path = os.path.join(str(tmp_path_factory.mktemp("proc")), name)

    def write(self, content) -> str:
        with open(self.path, "wb") as handle:
            handle.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        return self.path


def refused(read, path: str) -> str:
    with pytest.raises(CapacityError) as error:
        read(path)
    message = str(error.value)
    assert path in message
    return message


def read_or_none(read, path: str):
    """What ``read`` gives for ``path``, or None when it refuses it with a CapacityError naming the file."""
    try:
        value = read(path)
    except CapacityError as error:
        event("refused")
        assert path in str(error)
        return None
    event("read")
    return value


# --- /proc/meminfo -------------------------------------------------------------------------------

# Field names as kernels write them: letters, digits, '_' and parentheses ("Active(anon)").
field_names = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,14}(\([a-z]{1,6}\))?", fullmatch=True)
KNOWN_FIELDS = ["MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active(anon)",
                "HugePages_Total", "Hugepagesize", "DirectMap4k"]


def meminfo_line(draw, name: str, value: int) -> str:
    padding = " " * draw(st.integers(0, 12))
    unit = draw(st.sampled_from([" kB", ""]))  # HugePages_* lines carry no unit
    return "%s:%s%d%s" % (name, padding, value, unit)


# Lines a reader of meminfo must pass over: no ':', nothing after it, a value that is no integer.
junk_lines = st.one_of(
    st.sampled_from(["", "   ", "no colon here 12", "Committed_AS:", "Weird:   kB", "Frac:  1.5 kB", "Hex: 0x1f kB",
                     "Dash: - kB", "Word: many"]),
    st.text(string.ascii_letters + " ", max_size=20),
)


@st.composite
def meminfos(draw, required: Tuple[str, ...] = ()) -> Tuple[str, Dict[str, int]]:
    """(file text, {field: value}) with the fields in any order and junk lines between them."""
    names = draw(st.lists(st.one_of(st.sampled_from(KNOWN_FIELDS), field_names), unique=True, max_size=12))
    names += [name for name in required if name not in names]
    names = draw(st.permutations(names))
    model = {name: draw(kilobytes) for name in names}
    lines = [meminfo_line(draw, name, value) for name, value in model.items()]
    for junk in draw(st.lists(junk_lines, max_size=4)):
        lines.insert(draw(st.integers(0, len(lines))), junk)
    ending = draw(st.sampled_from(["\n", ""]))
    return "\n".join(lines) + ending, model


@FILE_SETTINGS
@given(meminfo=meminfos())
def test_meminfo_is_read_back_field_by_field_skipping_junk(meminfo, tmp_path_factory):
    text, model = meminfo
    assert read_meminfo(ProcFile(tmp_path_factory, "meminfo").write(text)) == model


@st.composite
def memory_models(draw) -> Tuple[str, float]:
    """(meminfo text, the used percentage the model gives) for kernels with and without MemAvailable."""
    total = draw(st.integers(1, 2 ** 40))
    memory_fields = ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached")
    model = {name: value for name, value in draw(meminfos())[1].items() if name not in memory_fields}
    model["MemTotal"] = total
    if draw(st.booleans()):
        model["MemAvailable"] = available = draw(st.integers(0, total))
    else:  # before Linux 3.14: each of the three may be missing, and counts as 0 then
        parts = {name: draw(st.integers(0, total // 3)) for name in ("MemFree", "Buffers", "Cached") if draw(st.booleans())}
        model.update(parts)
        available = sum(parts.values())
    # fields in any order
    model = dict(draw(st.permutations(sorted(model.items()))))
    lines = [meminfo_line(draw, name, value) for name, value in model.items()]
    return "\n".join(lines) + "\n", 100.0 * (total - available) / total


@FILE_SETTINGS
@given(case=memory_models())
def test_memory_used_is_the_share_of_memtotal_not_available(case, tmp_path_factory):
    text, expected = case
    event("MemAvailable" if "MemAvailable:" in text else "MemFree + Buffers + Cached")
    used = memory_used_percent(ProcFile(tmp_path_factory, "meminfo").write(text))
    assert used == pytest.approx(expected, abs=1e-9)
    assert 0.0 <= used <= 100.0 + 1e-9


@FILE_SETTINGS
@given(meminfo=meminfos(), total=st.sampled_from(["MemTotal: 0 kB", "MemTotal:", "MemTotal: lots kB", "MemTotal 800 kB", None]))
def test_memory_without_a_usable_memtotal_is_refused_naming_the_file(meminfo, total, tmp_path_factory):
    text, model = meminfo
    lines = [line for line in text.splitlines() if line.partition(":")[0] != "MemTotal"]
    if total is not None:
        lines.append(total)
    event("no MemTotal" if total is None else total)
    path = ProcFile(tmp_path_factory, "meminfo").write("\n".join(lines) + "\n")
    assert "MemTotal" in refused(memory_used_percent, path)
    assert "MemTotal" not in read_meminfo(path) or read_meminfo(path)["MemTotal"] == 0
    assert {name: value for name, value in read_meminfo(path).items() if name != "MemTotal"} == \
        {name: value for name, value in model.items() if name != "MemTotal"}


@FILE_SETTINGS
@given(content=st.binary(max_size=300))
def test_any_meminfo_bytes_give_numbers_or_capacity_error(content, tmp_path_factory):
    path = ProcFile(tmp_path_factory, "meminfo").write(content)
    fields = read_meminfo(path)
    assert all(isinstance(name, str) and isinstance(value, int) for name, value in fields.items())
    used = read_or_none(memory_used_percent, path)
    assert used is None or isinstance(used, float)


# --- /proc/stat -----------------------------------------------------------------------------------

# user nice system idle iowait irq softirq steal guest guest_nice: Linux 2.6.33+ writes ten,
# the oldest kernels four. guest and guest_nice are already part of user and nice.
FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
IDLE = ("idle", "iowait")


def cpu_line(draw, label: str, counters: List[int]) -> str:
    gap = st.sampled_from([" ", "  ", "\t"])
    return label + draw(gap) + "".join(str(value) + draw(gap) for value in counters).rstrip()


def busy_and_total(counters: List[int]) -> Tuple[int, int]:
    """(busy, total) jiffies of a cpu line, from the field names rather than positions."""
    named = dict(zip(FIELDS, counters))
    total = sum(value for name, value in named.items() if name not in ("guest", "guest_nice"))
    return total - sum(named.get(name, 0) for name in IDLE), total


@st.composite
def stat_files(draw, counters: Optional[List[int]] = None) -> Tuple[str, List[int]]:
    """(/proc/stat text, the aggregate cpu line's counters)."""
    if counters is None:
        counters = draw(st.lists(ticks, min_size=4, max_size=10))
    lines = [cpu_line(draw, "cpu", counters)]
    for cpu in range(draw(st.integers(0, 3))):
        lines.append(cpu_line(draw, "cpu%d" % cpu, draw(st.lists(ticks, min_size=len(counters), max_size=len(counters)))))
    lines += ["intr 12345 0 9 0", "ctxt 998877", "btime 1700000000", "processes 4242", "procs_running 2",
              "softirq 1 2 3 4 5 6 7 8 9 10"]
    if draw(st.booleans()):  # the aggregate line need not come first for the reader
        lines.append(lines.pop(0))
    return "\n".join(lines) + "\n", counters


@FILE_SETTINGS
@given(stat=stat_files())
def test_cpu_times_are_the_aggregate_lines_total_and_idle_plus_iowait(stat, tmp_path_factory):
    text, counters = stat
    busy, total = busy_and_total(counters)
    event("%d fields" % len(counters))
    assert read_cpu_times(ProcFile(tmp_path_factory, "stat").write(text)) == (total, total - busy)


@st.composite
def two_readings(draw) -> Tuple[List[int], List[int]]:
    """Counters of one kernel read twice: as many fields, none going backwards."""
    first = draw(st.lists(ticks, min_size=4, max_size=10))
    second = [value + draw(st.integers(0, 10 ** 6)) for value in first]
    return first, second


@FILE_SETTINGS
@given(readings=two_readings(), data=st.data())
def test_cpu_busy_is_the_busy_share_of_the_jiffies_between_the_two_reads(readings, data, tmp_path_factory):
    first, second = readings
    proc = ProcFile(tmp_path_factory, "stat")
    texts = [data.draw(stat_files(first))[0], data.draw(stat_files(second))[0]]
    proc.write(texts[0])
    slept: List[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        proc.write(texts[1])

    (busy_before, total_before), (busy_after, total_after) = busy_and_total(first), busy_and_total(second)
    elapsed = total_after - total_before
    expected = 0.0 if elapsed == 0 else 100.0 * (busy_after - busy_before) / elapsed
    event("no jiffies elapsed" if elapsed == 0 else "jiffies elapsed")
    busy = cpu_busy_percent(0.5, proc.path, sleep)
    assert slept == [0.5]
    assert busy == pytest.approx(expected, abs=1e-9)
    assert 0.0 <= busy <= 100.0 + 1e-9


@PROPERTY_SETTINGS
@given(first=st.tuples(ticks, ticks), total=ticks, idle=ticks)
def test_cpu_busy_between_two_readings_without_elapsed_jiffies_is_zero(first, total, idle):
    # counters that went backwards or did not move (a reboot between reads, a too short sample)
    second = (first[0] - total, first[1] + idle)
    assert cpu_busy_between(first, second) == 0.0


# The kernel documents that iowait "will decrease in certain conditions"
# (Documentation/filesystems/proc.rst); idle + iowait then falls, and the share must stay at most 100.
def test_cpu_busy_stays_a_percentage_when_iowait_decreases(tmp_path):
    path = tmp_path / "stat"
    path.write_text("cpu  0 0 0 0 5\n")
    first = read_cpu_times(str(path))
    path.write_text("cpu  10 0 0 0 0\n")
    assert 0.0 <= cpu_busy_between(first, read_cpu_times(str(path))) <= 100.0


# Words int() refuses: letters without digits, decimals, signs on their own, separators.
not_integers = st.one_of(st.sampled_from(["-", "+", "1.5", "1e3", "0x10", "1,000", "12a", "n/a", "\u00bd"]),
                         st.text(string.ascii_letters, min_size=1, max_size=5))


@st.composite
def broken_stat_files(draw) -> Tuple[str, str]:
    """(/proc/stat text whose aggregate line the reader cannot use, what is wrong with it)."""
    counters = [str(value) for value in draw(st.lists(ticks, min_size=4, max_size=10))]
    fault = draw(st.sampled_from(["short line", "word among the first eight", "no aggregate line"]))
    label = "cpu"
    if fault == "short line":
        counters = counters[:draw(st.integers(0, 3))]
    elif fault == "word among the first eight":
        counters[draw(st.integers(0, min(7, len(counters) - 1)))] = draw(not_integers)
    else:
        label = draw(st.sampled_from(["cpu0", "CPU", "cpus", "#cpu", "xcpu"]))
    lines = [" ".join([label] + counters), "cpu0 1 2 3 4 5 6 7 8 0 0", "intr 1 2 3", "ctxt 4"]
    return "\n".join(lines) + "\n", fault


@FILE_SETTINGS
@given(stat=broken_stat_files())
def test_a_stat_file_without_a_usable_cpu_line_is_refused_naming_the_file(stat, tmp_path_factory):
    text, fault = stat
    event(fault)
    assert "'cpu' line" in refused(read_cpu_times, ProcFile(tmp_path_factory, "stat").write(text))


@FILE_SETTINGS
@given(counters=st.lists(ticks, min_size=8, max_size=8), guests=st.lists(st.one_of(not_integers, ticks.map(str)), max_size=4))
def test_fields_after_the_eighth_are_not_read(counters, guests, tmp_path_factory):
    text = "cpu  %s %s\n" % (" ".join(map(str, counters)), " ".join(guests))
    busy, total = busy_and_total(counters)
    assert read_cpu_times(ProcFile(tmp_path_factory, "stat").write(text)) == (total, total - busy)


@FILE_SETTINGS
@given(content=st.one_of(st.binary(max_size=300), st.binary(max_size=100).map(lambda tail: b"cpu " + tail)))
def test_any_stat_bytes_give_two_counters_or_capacity_error(content, tmp_path_factory):
    path = ProcFile(tmp_path_factory, "stat").write(content)
    times = read_or_none(read_cpu_times, path)
    assert times is None or (isinstance(times[0], int) and isinstance(times[1], int))


# --- /proc/loadavg --------------------------------------------------------------------------------

hundredths = st.integers(0, 10 ** 6)


@FILE_SETTINGS
@given(loads=st.tuples(hundredths, hundredths, hundredths), running=st.integers(0, 99), threads=st.integers(1, 99999),
       last_pid=st.integers(1, 4194304), gap=st.sampled_from([" ", "  ", "\t"]), ending=st.sampled_from(["\n", ""]))
def test_load_averages_are_the_first_three_figures(loads, running, threads, last_pid, gap, ending, tmp_path_factory):
    figures = ["%d.%02d" % divmod(load, 100) for load in loads]
    text = gap.join(figures + ["%d/%d" % (running, threads), str(last_pid)]) + ending
    assert load_average(ProcFile(tmp_path_factory, "loadavg").write(text)) == tuple(load / 100 for load in loads)


# Words float() refuses: no letters that could spell nan, inf, infinity or an exponent.
not_floats = st.one_of(st.sampled_from(["-", "1,5", "0.5.1", "1/2", "..", "0x1", "high"]),
                       st.text("ghjklmopqrstuvwxyz", min_size=1, max_size=5))


@FILE_SETTINGS
@given(loads=st.lists(hundredths.map(lambda load: "%d.%02d" % divmod(load, 100)), min_size=3, max_size=3),
       fault=st.sampled_from(["short", "word"]), data=st.data())
def test_a_loadavg_file_without_three_figures_first_is_refused_naming_the_file(loads, fault, data, tmp_path_factory):
    if fault == "short":
        words = loads[:data.draw(st.integers(0, 2))]
    else:
        words = list(loads)
        words[data.draw(st.integers(0, 2))] = data.draw(not_floats)
    event(fault)
    text = " ".join(words + ["1/100", "4242"]) if fault == "word" else " ".join(words) + "\n"
    assert "three load averages" in refused(load_average, ProcFile(tmp_path_factory, "loadavg").write(text))


@FILE_SETTINGS
@given(content=st.binary(max_size=100))
def test_any_loadavg_bytes_give_three_floats_or_capacity_error(content, tmp_path_factory):
    path = ProcFile(tmp_path_factory, "loadavg").write(content)
    loads = read_or_none(load_average, path)
    assert loads is None or (len(loads) == 3 and all(isinstance(load, float) for load in loads))


# --- statvfs --------------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(blocks=st.integers(0, 2 ** 50), data=st.data())
def test_disk_free_is_the_share_of_blocks_available_to_unprivileged_users(blocks, data):
    available = data.draw(st.integers(0, blocks))
    free = data.draw(st.integers(available, blocks))  # f_bfree also counts the blocks reserved for root
    figures = os.statvfs_result((4096, 4096, blocks, free, available, 1000, 500, 500, 0, 255))
    with mock.patch.object(_capacity.os, "statvfs", return_value=figures) as statvfs:
        if blocks == 0:
            with pytest.raises(CapacityError, match="0 blocks"):
                disk_free_percent("/opt/shop")
            return
        percent = disk_free_percent("/opt/shop")
    assert statvfs.call_count == 1
    assert percent == pytest.approx(100.0 * available / blocks, abs=1e-9)
    assert 0.0 <= percent <= 100.0


# --- figures read earlier ------------------------------------------------------------------------

FIGURES = ("disk_free_percent", "cpu_percent", "memory_used_percent")
percents = st.floats(0, 100, allow_nan=False)
# a number as YAML or JSON may give it: float, int, or the text of either
numbers = st.one_of(percents, st.integers(0, 100), percents.map(repr), st.integers(0, 100).map(str))


@PROPERTY_SETTINGS
@given(figures=st.fixed_dictionaries({name: numbers for name in FIGURES}),
       load=st.none() | st.lists(st.one_of(st.floats(0, 1000, allow_nan=False), st.integers(0, 1000)), min_size=3, max_size=3),
       path=st.none() | st.sampled_from(["/opt/shop", "/srv/app"]))
def test_figures_given_as_numbers_or_their_text_are_taken_as_those_numbers(figures, load, path):
    given_figures = dict(figures)
    if load is not None:
        given_figures["load_average"] = load
    if path is not None:
        given_figures["path"] = path
    report = report_from_figures(given_figures, "/fallback")
    assert {name: getattr(report, name) for name in FIGURES} == \
        {name: float(value) for name, value in figures.items()}
    assert report.load_average == (tuple(float(value) for value in load) if load is not None else (0.0, 0.0, 0.0))
    assert report.path == (path or "/fallback")
    assert report.failures == []


# values that are no number (bool is refused although it is an int)
not_numbers = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
                        st.sampled_from(["", "high", "12 %", "1,5", "0x10", "-"]))


@PROPERTY_SETTINGS
@given(figures=st.fixed_dictionaries({name: numbers for name in FIGURES}), name=st.sampled_from(FIGURES), value=not_numbers)
def test_a_figure_that_is_no_number_is_refused_naming_it(figures, name, value):
    figures = dict(figures, **{name: value})
    with pytest.raises(CapacityError, match="figures.%s must be a number" % name):
        report_from_figures(figures, "/opt/shop")


@PROPERTY_SETTINGS
@given(figures=st.fixed_dictionaries({name: numbers for name in FIGURES}),
       load=st.one_of(st.lists(st.floats(0, 10, allow_nan=False), max_size=6).filter(lambda loads: len(loads) not in (0, 3)),
                      st.lists(st.one_of(st.none(), st.just("high"), st.lists(st.integers(), max_size=1)), min_size=3, max_size=3),
                      st.integers(1, 100), st.just("high load")))
def test_a_load_average_that_is_not_three_numbers_is_refused(figures, load):
    # the whole value is named when it is no list of three, the element when one is no number
    with pytest.raises(CapacityError, match=r"figures\.load_average( must be three numbers|\[[012]\] must be a number)"):
        report_from_figures(dict(figures, load_average=load), "/opt/shop")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=8,
)


@PROPERTY_SETTINGS
@given(figures=st.dictionaries(st.sampled_from(FIGURES + ("load_average", "path")), json_values))
def test_any_figures_give_a_report_or_capacity_error(figures):
    try:
        report = report_from_figures(figures, "/opt/shop")
    except CapacityError as error:
        event("refused")
        assert str(error).startswith("figures.")
    else:
        event("report")
        assert all(isinstance(getattr(report, name), float) and math.isfinite(getattr(report, name)) for name in FIGURES)
        assert len(report.load_average) == 3 and all(math.isfinite(x) for x in report.load_average)


VALID = {"disk_free_percent": 50, "cpu_percent": 10, "memory_used_percent": 20}


@pytest.mark.parametrize("figures", [dict(VALID, cpu_percent=2 ** 1024), dict(VALID, load_average=[2 ** 1024, 0, 0])],
                         ids=["cpu_percent", "load_average"])
def test_a_number_too_large_for_a_float_is_refused(figures):
    with pytest.raises(CapacityError):
        report_from_figures(figures, "/opt/shop")


@pytest.mark.parametrize("load, expected", [("123", "figures.load_average must be three numbers"),
                                            ([True, False, True], r"figures.load_average\[0\] must be a number")],
                         ids=["string", "booleans"])
def test_a_load_average_of_characters_or_booleans_is_refused(load, expected):
    with pytest.raises(CapacityError, match=expected):
        report_from_figures(dict(VALID, load_average=load), "/opt/shop")


# NaN passes every comparison of a threshold, so it is refused before any is made
@pytest.mark.parametrize("name", FIGURES)
@pytest.mark.parametrize("nan", ["nan", float("nan"), "inf", float("-inf")], ids=["text", "float", "inf text", "-inf"])
def test_a_figure_that_is_not_a_finite_number_is_refused(name, nan):
    with pytest.raises(CapacityError, match="figures.%s must be a finite number" % name):
        report_from_figures(dict(VALID, **{name: nan}), "/opt/shop")
