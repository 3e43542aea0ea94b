# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of deployment batches: ``_plan.split_batches`` and the ``lastmile.deploy.batches`` filter.

The filter runs in a child process: importing controller code into the test process switches
ansible's module_utils to controller mode, which changes what the module tests see.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.batches import PlanError, batch_size, split_batches
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import (
    COLLECTIONS,
    REPO,
    ansible_cli,
)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])

hosts_lists = st.lists(st.text(min_size=1, max_size=8), max_size=40, unique=True)
counts = st.integers(1, 50)


@st.composite
def percentages(draw) -> tuple:
    """(text such as ' 12.5 %', exact value): above 0, at most 100, up to four decimals."""
    hundredths = draw(st.integers(1, 1000000))  # in units of 0.0001 %
    value = Fraction(hundredths, 10000)
    whole, fraction = divmod(hundredths, 10000)
    decimals = draw(st.integers(0, 3)) if fraction == 0 else 4
    text = str(whole) + ("." + ("%04d" % fraction)[:decimals] if decimals else "")
    if decimals and fraction:
        text = text.rstrip("0")
    space = st.sampled_from(["", " ", "  "])
    return draw(space) + text + draw(space) + "%" + draw(space), value


def check_batches(hosts: list, batches: list, size: int) -> None:
    """Every host once, in order; no batch empty or larger than `size`; only the last may be smaller."""
    assert [host for batch in batches for host in batch] == hosts
    assert all(1 <= len(batch) <= size for batch in batches)
    assert all(len(batch) == size for batch in batches[:-1])
    assert len(batches) == (math.ceil(len(hosts) / size) if hosts else 0)


# --- examples -----------------------------------------------------------------------------------

@pytest.mark.parametrize("hosts, spec, expected", [
    (["a", "b", "c", "d"], 2, [["a", "b"], ["c", "d"]]),
    (["a", "b", "c", "d", "e"], 2, [["a", "b"], ["c", "d"], ["e"]]),
    (["a", "b", "c", "d"], "25%", [["a"], ["b"], ["c"], ["d"]]),
    (["a", "b", "c", "d", "e"], "25%", [["a", "b"], ["c", "d"], ["e"]]),  # 1.25 hosts -> 2
    (["a", "b", "c"], "1%", [["a"], ["b"], ["c"]]),                          # at least one
    (["a", "b", "c"], "100%", [["a", "b", "c"]]),
    (["a", "b", "c"], 10, [["a", "b", "c"]]),
    (["a", "b", "c"], " 2 ", [["a", "b"], ["c"]]),
    ([], 3, []),
    ([], "50%", []),
])
def test_split_examples(hosts, spec, expected):
    assert split_batches(hosts, spec) == expected


@pytest.mark.parametrize("spec, fragment", [
    ("0", "batch size 0 must be a whole number of at least 1"),
    (0, "batch size 0 must be a whole number of at least 1"),
    ("-1", "batch size '-1' is not a number or a percentage"),
    (-1, "batch size -1 must be a whole number of at least 1"),
    ("x%", "batch size 'x%' is not a number or a percentage"),
    ("150%", "batch size '150%' must be a percentage above 0 and at most 100"),
    ("0%", "batch size '0%' must be a percentage above 0 and at most 100"),
    (True, "batch size True is not a number or a percentage"),
    (2.5, "batch size 2.5 must be a whole number of at least 1"),
    (None, "batch size None must be a whole number of at least 1"),
    ("", "batch size '' is not a number or a percentage"),
])
def test_bad_sizes_are_refused_naming_the_value(spec, fragment):
    with pytest.raises(PlanError) as error:
        split_batches(["a", "b"], spec)
    assert fragment in str(error.value)


# --- properties ---------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(hosts=hosts_lists, count=counts, as_text=st.booleans())
def test_count_batches_keep_every_host_once_in_order(hosts, count, as_text):
    spec = " %d " % count if as_text else count
    batches = split_batches(hosts, spec)
    check_batches(hosts, batches, min(count, len(hosts)) or 1)
    assert batches == split_batches(hosts, count)


@PROPERTY_SETTINGS
@given(hosts=hosts_lists, percent=percentages())
def test_percentage_batches_round_up_and_take_at_least_one_host(hosts, percent):
    text, value = percent
    size = max(1, math.ceil(len(hosts) * value / 100))
    event("rounded up" if len(hosts) * value % 100 else "exact")
    assert batch_size(len(hosts), text) == (size if hosts else 0)
    check_batches(hosts, split_batches(hosts, text), size)


@st.composite
def exact_shares(draw) -> tuple:
    """(hosts, percentage text, k): a percentage of the hosts that is exactly k hosts, where float
    arithmetic often lands just above k (1000 hosts x 16.1 %, 10000 hosts x 0.07 %)."""
    total = draw(st.sampled_from([100, 200, 400, 500, 1000, 2000, 5000, 10000]))
    k = draw(st.integers(1, total))
    text = format(Decimal(100 * k) / Decimal(total), "f")
    return total, (text.rstrip("0").rstrip(".") if "." in text else text) + "%", k


@PROPERTY_SETTINGS
@given(share=exact_shares())
def test_a_percentage_that_is_a_whole_number_of_hosts_is_not_rounded_up(share):
    total, text, k = share
    assert batch_size(total, text) == k


@PROPERTY_SETTINGS
@given(hosts=st.lists(st.integers(), max_size=30), spec=st.one_of(counts, percentages().map(lambda pair: pair[0])))
def test_any_iterable_of_any_items_is_cut_the_same_way(hosts, spec):
    batches = split_batches(iter(hosts), spec)
    assert batches == split_batches(tuple(hosts), spec) == split_batches(hosts, spec)
    assert [item for batch in batches for item in batch] == hosts


bad_sizes = st.one_of(
    st.integers(max_value=0),
    st.integers(max_value=0).map(str),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.decimals(min_value=100, allow_nan=False, allow_infinity=False).filter(lambda value: value > 100).map(
        lambda value: "%s%%" % value),
    st.sampled_from(["0%", "0.0%", "-5%", "%", "x%", "25%%", "2x", "1.5", "1e1%", "½", ".5%"]),
    st.text(max_size=6).filter(lambda text: not text.strip().rstrip("%").strip().replace(".", "", 1).isdigit()),
)


@PROPERTY_SETTINGS
@given(spec=bad_sizes, total=st.integers(0, 100))
def test_bad_sizes_are_refused_naming_the_value_whatever_the_host_count(spec, total):
    with pytest.raises(PlanError) as error:
        batch_size(total, spec)
    # a count given as text ("0") is named as the number it was read as
    named = [repr(spec)] + ([str(int(spec))] if isinstance(spec, str) and spec.strip().isdigit() else [])
    assert any(str(error.value).startswith("batch size %s " % name) for name in named), str(error.value)


# Sizes the properties found: '²' (str.isdigit() accepts it, int() does not), a digit string longer
# than int() converts, and a share just above a whole number of hosts (must round up, exactly).
@pytest.mark.parametrize("spec, expected", [
    ("²", None),              # str.isdigit() is true for superscript two; int() refuses it
    ("9" * 5000, None),       # more digits than int() converts (sys.get_int_max_str_digits())
    ("10.0000000001%", 2),    # 10 hosts x 10.0000000001 % = 1.00000000001 hosts, rounded up: 2
], ids=["superscript-digit", "5000-digits", "just-above-a-whole-number"])
def test_sizes_found_by_the_properties(spec, expected):
    if expected is None:
        with pytest.raises(PlanError) as error:
            batch_size(10, spec)
        assert repr(spec)[:40] in str(error.value)
    else:
        assert batch_size(10, spec) == expected


# --- the filter ----------------------------------------------------------------------------------

CALL_BATCHES = """
import json, sys
from ansible.errors import AnsibleFilterError
from ansible_collections.lastmile.deploy.plugins.filter import batches as plugin

assert plugin.FilterModule().filters() == {"batches": plugin.batches}
results = []
for hosts, size in json.load(sys.stdin):
    try:
        results.append({"value": plugin.batches(hosts, size)})
    except AnsibleFilterError as error:
        results.append({"error": str(error)})
    except Exception as error:
        results.append({"unexpected": "%s: %s" % (type(error).__name__, error)})
print(json.dumps(results))
"""


def call_filter(cases: list) -> list:
    """Each (hosts, size) through ``lastmile.deploy.batches`` in one child Python."""
    env = ansible_cli()[1]
    env["PYTHONPATH"] = os.pathsep.join(path for path in (COLLECTIONS, env.get("PYTHONPATH")) if path)
    completed = subprocess.run([sys.executable, "-c", CALL_BATCHES], input=json.dumps(cases), cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


json_sizes = st.one_of(counts, counts.map(str), percentages().map(lambda pair: pair[0]),
                       bad_sizes.filter(lambda spec: not isinstance(spec, float) or math.isfinite(spec)))
filter_inputs = st.one_of(hosts_lists, st.text(max_size=5), st.none(), st.integers(),
                          st.dictionaries(st.text(max_size=3), st.integers(), max_size=3))


# Each example is one child Python over 80 cases; a failure names its case, so no shrinking
# (which would start a child per step).
@settings(PROPERTY_SETTINGS, max_examples=3, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(cases=st.lists(st.tuples(filter_inputs, json_sizes), min_size=80, max_size=80))
def test_filter_is_split_batches_with_filter_errors(cases):
    results = call_filter([list(case) for case in cases])
    assert len(results) == len(cases)
    for (hosts, size), result in zip(cases, results):
        if isinstance(hosts, (str, type(None), int)):
            assert result == {"error": "batches expects a list of hosts, got %r" % (hosts,)}
            continue
        try:
            expected = {"value": split_batches(hosts, size)}
        except PlanError as error:
            expected = {"error": str(error)}
        assert result == expected, (hosts, size)
