# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.weights import (
    TrafficError,
    check_steps,
    parse_percent,
    plan_canary,
    split_traffic,
)

FOUR_AT_1 = {"app1": 1, "app2": 1, "app3": 1, "app4": 1}
FOUR_AT_100 = {"app1": 100, "app2": 100, "app3": 100, "app4": 100}

PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


def share_of(weights, canary):
    return Fraction(sum(weights[name] for name in canary), sum(weights.values()))


# --- examples -----------------------------------------------------------------------------------

@pytest.mark.parametrize("base, canary, percent, expected", [
    # stable servers stay at their base weights, the canary gets 100 * 300/9 = 33.3 -> 33
    (FOUR_AT_100, ["app1"], 10, {"app1": 33, "app2": 100, "app3": 100, "app4": 100}),
    (FOUR_AT_100, ["app1"], 12.5, {"app1": 43, "app2": 100, "app3": 100, "app4": 100}),
    (FOUR_AT_100, ["app1"], 33, {"app1": 148, "app2": 100, "app3": 100, "app4": 100}),
    # 300 for the canary is above 256: the canary is capped and the stable servers share 256
    (FOUR_AT_100, ["app1"], 50, {"app1": 256, "app2": 86, "app3": 85, "app4": 85}),
    (FOUR_AT_100, ["app1"], 90, {"app1": 256, "app2": 10, "app3": 9, "app4": 9}),
    # HAProxy's default weight 1: the canary cannot go below 1, so the stable servers are multiplied
    (FOUR_AT_1, ["app1"], 10, {"app1": 1, "app2": 3, "app3": 3, "app4": 3}),
    (FOUR_AT_1, ["app1"], 12.5, {"app1": 3, "app2": 7, "app3": 7, "app4": 7}),
    (FOUR_AT_1, ["app1"], 50, {"app1": 3, "app2": 1, "app3": 1, "app4": 1}),
    (FOUR_AT_1, ["app1"], 90, {"app1": 27, "app2": 1, "app3": 1, "app4": 1}),
    # canary servers in proportion to their base weights: 100 of 400 total, split 2:1
    ({"c1": 100, "c2": 50, "s1": 200, "s2": 100}, ["c1", "c2"], 25, {"c1": 67, "c2": 33, "s1": 200, "s2": 100}),
    # canary servers at weight 0 count as 1: both get the same share of the canary weight
    ({"c1": 0, "c2": 0, "s1": 5}, ["c1", "c2"], 10, {"c1": 3, "c2": 2, "s1": 45}),
])
def test_split_examples(base, canary, percent, expected):
    split = split_traffic(base, canary, percent)
    assert split.weights == expected
    assert list(split.weights) == list(base)
    assert split.share == share_of(expected, canary)


def test_stable_servers_keep_base_weights_when_close_enough():
    base = {"c": 100, "s1": 100, "s2": 100, "s3": 100}
    for percent in (2, 5, 10, 20, 30, 40):
        weights = split_traffic(base, ["c"], percent).weights
        assert {name: weights[name] for name in ("s1", "s2", "s3")} == {"s1": 100, "s2": 100, "s3": 100}, percent


def test_stable_servers_are_scaled_down_in_proportion_when_canary_is_capped():
    split = split_traffic({"c": 100, "big": 200, "small": 100}, ["c"], 75)
    assert split.weights["c"] == 256
    # 256 / 3 = 85.3 stable weight, split 2:1 between the stable servers
    assert split.weights == {"c": 256, "big": 57, "small": 28}
    assert abs(split.share - Fraction(3, 4)) <= Fraction(1, 2 * sum(split.weights.values()))


def test_canaries_are_capped_in_proportion():
    weights = split_traffic({"c1": 200, "c2": 100, "s": 10}, ["c1", "c2"], 99).weights
    assert weights["c1"] == 256 and weights["c2"] == 128


def test_percent_zero_and_hundred():
    base = {"c": 50, "zero": 0, "s": 30, "cz": 0}
    assert split_traffic(base, ["c", "cz"], 0).weights == {"c": 0, "zero": 1, "s": 30, "cz": 0}
    assert split_traffic(base, ["c", "cz"], 100).weights == {"c": 50, "zero": 0, "s": 0, "cz": 1}
    assert split_traffic(base, ["c", "cz"], "100%").share == 1
    assert split_traffic(base, ["c", "cz"], 0.0).share == 0


def test_every_server_a_canary_at_hundred_percent():
    assert split_traffic({"a": 7, "b": 0}, ["a", "b"], 100).weights == {"a": 7, "b": 1}


def test_duplicate_canary_names_count_once():
    assert split_traffic(FOUR_AT_100, ["app1", "app1"], 10).weights == split_traffic(FOUR_AT_100, ["app1"], 10).weights


@pytest.mark.parametrize("value, expected", [
    (10, Fraction(10)), (0.1, Fraction(1, 10)), ("12.5", Fraction(25, 2)), (" 12.5% ", Fraction(25, 2)),
    ("0", Fraction(0)), (100.0, Fraction(100)), (Fraction(1, 3), Fraction(1, 3)), ("1e1", Fraction(10)),
])
def test_parse_percent(value, expected):
    assert parse_percent(value) == expected


# --- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("base, canary, percent, fragments", [
    (FOUR_AT_100, ["app1"], 101, ["percent 101", "0..100"]),
    (FOUR_AT_100, ["app1"], -1, ["percent -1", "0..100"]),
    (FOUR_AT_100, ["app1"], "ten", ["percent 'ten'", "not a number"]),
    (FOUR_AT_100, ["app1"], float("nan"), ["percent nan", "not a number"]),
    (FOUR_AT_100, ["app1"], True, ["percent True", "not a number"]),
    (FOUR_AT_100, ["app1"], None, ["percent None", "not a number"]),
    (FOUR_AT_100, [], 10, ["canary is empty"]),
    (FOUR_AT_100, "app1", 10, ["canary must be a list", "'app1'"]),
    (FOUR_AT_100, ["app1", "web9"], 10, ["web9", "not in base_weights"]),
    (FOUR_AT_100, [1], 10, ["canary server name 1"]),
    ({"a": 100, "b": 257}, ["a"], 10, ["weight 257", "'b'", "0 to 256"]),
    ({"a": 100, "b": -1}, ["a"], 10, ["weight -1", "'b'"]),
    ({"a": 100, "b": 1.5}, ["a"], 10, ["weight 1.5", "'b'"]),
    ({"a": 100, "b": "100"}, ["a"], 10, ["weight '100'", "'b'"]),
    ({"a": 100, "b": True}, ["a"], 10, ["weight True", "'b'"]),
    ({}, ["a"], 10, ["base_weights", "non-empty"]),
    ([("a", 1)], ["a"], 10, ["base_weights", "mapping"]),
    ({"a": 100, "b": 100}, ["a", "b"], 10, ["percent 10", "every server", "canary"]),
    ({"a": 100, "b": 100}, ["a", "b"], 0, ["percent 0", "no server with traffic"]),
])
def test_bad_values_are_refused_by_name(base, canary, percent, fragments):
    with pytest.raises(TrafficError) as error:
        split_traffic(base, canary, percent)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_too_small_a_share_names_the_smallest_possible():
    # canary at weight 1 against 2 x 200 (no room to scale up): 1 / 401 = 0.2494 %
    with pytest.raises(TrafficError) as error:
        split_traffic({"c": 1, "s1": 200, "s2": 200}, ["c"], 0.1)
    message = str(error.value)
    assert "percent 0.1 cannot be met" in message
    assert "0.2494%" in message


def test_small_share_is_met_once_there_is_enough_stable_weight():
    base = dict({"s%d" % i: 256 for i in range(10)}, c=1)
    split = split_traffic(base, ["c"], 0.1)
    assert split.weights["c"] == 3
    assert abs(split.share - Fraction(1, 1000)) <= Fraction(1, 2 * sum(split.weights.values()))


def test_too_large_a_share_names_the_largest_possible():
    # canary capped at 256 against three stable servers at weight 1 or more: 256 / 259 = 98.8417 %
    with pytest.raises(TrafficError) as error:
        split_traffic(FOUR_AT_100, ["app1"], 99.9)
    assert "percent 99.9 cannot be met" in str(error.value)
    assert "98.8417%" in str(error.value)


# --- properties ---------------------------------------------------------------------------------

@st.composite
def fleets(draw, min_stable=1):
    """(base weights, canary names): 2 to 6 servers, at least one canary and ``min_stable`` stable."""
    weights = draw(st.lists(st.integers(0, 256), min_size=1 + min_stable, max_size=6))
    base = {"srv%d" % index: weight for index, weight in enumerate(weights)}
    names = list(base)
    count = draw(st.integers(1, len(names) - min_stable))
    canary = draw(st.permutations(names))[:count]
    return base, canary


percents = st.one_of(
    st.integers(1, 99),
    st.floats(min_value=0, max_value=100, exclude_min=True, exclude_max=True, allow_nan=False),
    st.sampled_from([0.1, 0.5, 1, 2.5, 5, 10, 12.5, 25, 33.3, 50, 66.7, 75, 90, 95, 99, 99.5]),
)


def rounding_choices(ideal: Fraction):
    """The weights the guarantee allows for one server: its ideal rounded down or up, at least 1."""
    return sorted({max(1, math.floor(ideal)), max(1, min(256, math.ceil(ideal)))})


def half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


@PROPERTY_SETTINGS
@given(fleet=fleets(), percent=percents)
def test_split_guarantees(fleet, percent):
    base, canary = fleet
    try:
        split = split_traffic(base, canary, percent)
    except TrafficError as error:
        event("refused")
        assert "percent %s cannot be met" % (percent,) in str(error)
        assert "%" in str(error).split("cannot be met", 1)[1]
        return
    event("split")
    requested = parse_percent(percent) / 100
    weights, ideal = split.weights, split.ideal
    stable = [name for name in base if name not in canary]
    total = sum(weights.values())

    assert list(weights) == list(base)
    assert all(isinstance(weight, int) and 1 <= weight <= 256 for weight in weights.values())
    assert split.share == share_of(weights, canary)
    # the ideal weights give exactly the share asked for
    assert share_of(ideal, canary) == requested
    # each weight is its ideal rounded down or up (at least 1)
    for name in base:
        assert weights[name] in rounding_choices(ideal[name]), name
    # the error is at most half of what one unit of weight moves
    assert abs(split.share - requested) <= Fraction(1, 2 * total)
    # no other rounding allowed by the guarantee comes closer
    names = list(base)
    best = min(abs(share_of(dict(zip(names, choice)), canary) - requested)
               for choice in itertools.product(*(rounding_choices(ideal[name]) for name in names)))
    assert abs(split.share - requested) == best
    # the stable servers are a whole multiple of their base weights, or the canary servers are capped
    effective = {name: max(weight, 1) for name, weight in base.items()}
    factors = {Fraction(weights[name], effective[name]) for name in stable}
    widest = max(effective[name] for name in canary)
    capped = {name: max(1, half_up(Fraction(256 * effective[name], widest))) for name in canary}
    if len(factors) == 1 and next(iter(factors)).denominator == 1:
        event("stable at a whole multiple of base")
    else:
        assert {name: weights[name] for name in canary} == capped


@PROPERTY_SETTINGS
@given(fleet=fleets(min_stable=0), percent=st.sampled_from([0, 0.0, "0", 100, 100.0, "100%"]))
def test_split_at_the_ends(fleet, percent):
    base, canary = fleet
    everyone_canary = len(canary) == len(base)
    if parse_percent(percent) == 0 and everyone_canary:
        with pytest.raises(TrafficError, match="no server with traffic"):
            split_traffic(base, canary, percent)
        return
    on = canary if parse_percent(percent) == 100 else [name for name in base if name not in canary]
    assert split_traffic(base, canary, percent).weights == {
        name: (max(weight, 1) if name in on else 0) for name, weight in base.items()}


@PROPERTY_SETTINGS
@given(stable=st.lists(st.integers(10, 256), min_size=2, max_size=5), canary_weight=st.integers(0, 256),
       percent=st.one_of(st.integers(1, 90), st.floats(1, 90, allow_nan=False)))
def test_ordinary_requests_are_never_refused(stable, canary_weight, percent):
    base = dict({"s%d" % index: weight for index, weight in enumerate(stable)}, canary=canary_weight)
    split = split_traffic(base, ["canary"], percent)
    assert abs(split.share - parse_percent(percent) / 100) <= Fraction(1, 2 * sum(split.weights.values()))


@PROPERTY_SETTINGS
@given(stable=st.lists(st.integers(1, 256), min_size=1, max_size=5), percent=st.integers(1, 99))
def test_stable_base_weights_kept_whenever_close_enough(stable, percent):
    """A canary at base weight 1 gets ideal weight stable_total * p / (100 - p); when rounding that
    to a whole number of at least 1 is within the tolerance, the stable servers must stay untouched."""
    base = dict({"s%d" % index: weight for index, weight in enumerate(stable)}, canary=1)
    requested = Fraction(percent, 100)
    ideal = sum(stable) * requested / (1 - requested)
    if ideal > 256:
        return  # the canary is capped and stable servers go down by design
    nearest = max(1, half_up(ideal))
    error = abs(Fraction(nearest, nearest + sum(stable)) - requested)
    if abs(nearest - ideal) > Fraction(1, 2) or error * 20 > min(requested, 1 - requested):
        return
    weights = split_traffic(base, ["canary"], percent).weights
    assert all(weights[name] == base[name] for name in base if name != "canary")


# --- canary plan ----------------------------------------------------------------------------------

def test_plan_with_default_steps():
    plan = plan_canary(FOUR_AT_1, ["app1"])
    assert [step["percent"] for step in plan] == [10, 50, 100]
    assert [step["weights"]["app1"] for step in plan] == [1, 3, 1]
    assert [step["weights"]["app2"] for step in plan] == [3, 1, 0]
    assert [step["canary_share"] for step in plan] == [0.1, 0.5, 1.0]
    assert all(isinstance(step["canary_share"], float) for step in plan)


def test_plan_reports_the_share_achieved():
    plan = plan_canary(FOUR_AT_100, ["app1"], [1, "12.5", 33.3])
    assert [step["percent"] for step in plan] == [1, 12.5, 33.3]
    for step in plan:
        assert step["canary_share"] == pytest.approx(float(share_of(step["weights"], ["app1"])))
        assert step["canary_share"] == pytest.approx(step["percent"] / 100, abs=0.005)


@pytest.mark.parametrize("steps, fragments", [
    ([], ["non-empty list"]),
    ("10", ["non-empty list", "'10'"]),
    (None, ["non-empty list", "None"]),
    ([10, "x"], ["step 2 'x'", "not a number"]),
    ([0, 50], ["step 1 is 0", "above 0"]),
    ([10, 101], ["step 2 101", "0..100"]),
    ([10, 50, 50], ["step 3 (50)", "step 2 (50)", "strictly increasing"]),
    ([50, 10], ["step 2 (10)", "step 1 (50)"]),
    ([True, 50], ["step 1 True"]),
])
def test_bad_steps_are_refused_by_name(steps, fragments):
    with pytest.raises(TrafficError) as error:
        check_steps(steps)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_plan_names_the_step_that_cannot_be_met():
    with pytest.raises(TrafficError) as error:
        plan_canary({"c": 1, "s1": 200, "s2": 200}, ["c"], [0.1, 50])
    assert str(error.value).startswith("canary step 0.1%: percent 0.1 cannot be met")
