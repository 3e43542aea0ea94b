# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import itertools

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.strategy import (
    ANSWERS,
    StrategyError,
    read_answers,
    select_strategy,
)

# Every combination of the six answers and the strategy the deployment guide's decision tree gives:
#   downtime acceptable?
#     yes -> resources limited? yes -> recreate
#                               no  -> full validation needed? yes -> blue_green, no -> rolling
#     no  -> high-risk update? yes -> canary
#                              no  -> spare capacity? yes -> instant rollback needed? yes -> blue_green, no -> rolling
#                                                     no  -> rolling
# Columns: downtime_ok resources_limited full_validation high_risk spare_capacity instant_rollback
EXPECTED_TABLE = """
0  0  0  0  0  0   rolling
0  0  0  0  0  1   rolling
0  0  0  0  1  0   rolling
0  0  0  0  1  1   blue_green
0  0  0  1  0  0   canary
0  0  0  1  0  1   canary
0  0  0  1  1  0   canary
0  0  0  1  1  1   canary
0  0  1  0  0  0   rolling
0  0  1  0  0  1   rolling
0  0  1  0  1  0   rolling
0  0  1  0  1  1   blue_green
0  0  1  1  0  0   canary
0  0  1  1  0  1   canary
0  0  1  1  1  0   canary
0  0  1  1  1  1   canary
0  1  0  0  0  0   rolling
0  1  0  0  0  1   rolling
0  1  0  0  1  0   rolling
0  1  0  0  1  1   blue_green
0  1  0  1  0  0   canary
0  1  0  1  0  1   canary
0  1  0  1  1  0   canary
0  1  0  1  1  1   canary
0  1  1  0  0  0   rolling
0  1  1  0  0  1   rolling
0  1  1  0  1  0   rolling
0  1  1  0  1  1   blue_green
0  1  1  1  0  0   canary
0  1  1  1  0  1   canary
0  1  1  1  1  0   canary
0  1  1  1  1  1   canary
1  0  0  0  0  0   rolling
1  0  0  0  0  1   rolling
1  0  0  0  1  0   rolling
1  0  0  0  1  1   rolling
1  0  0  1  0  0   rolling
1  0  0  1  0  1   rolling
1  0  0  1  1  0   rolling
1  0  0  1  1  1   rolling
1  0  1  0  0  0   blue_green
1  0  1  0  0  1   blue_green
1  0  1  0  1  0   blue_green
1  0  1  0  1  1   blue_green
1  0  1  1  0  0   blue_green
1  0  1  1  0  1   blue_green
1  0  1  1  1  0   blue_green
1  0  1  1  1  1   blue_green
1  1  0  0  0  0   recreate
1  1  0  0  0  1   recreate
1  1  0  0  1  0   recreate
1  1  0  0  1  1   recreate
1  1  0  1  0  0   recreate
1  1  0  1  0  1   recreate
1  1  0  1  1  0   recreate
1  1  0  1  1  1   recreate
1  1  1  0  0  0   recreate
1  1  1  0  0  1   recreate
1  1  1  0  1  0   recreate
1  1  1  0  1  1   recreate
1  1  1  1  0  0   recreate
1  1  1  1  0  1   recreate
1  1  1  1  1  0   recreate
1  1  1  1  1  1   recreate
"""
COLUMNS = ("downtime_ok", "resources_limited", "full_validation", "high_risk", "spare_capacity", "instant_rollback")


def table_rows():
    rows = []
    for line in EXPECTED_TABLE.strip().splitlines():
        *flags, strategy = line.split()
        rows.append((dict(zip(COLUMNS, (flag == "1" for flag in flags))), strategy))
    return rows


def test_table_covers_every_combination_once():
    combinations = [tuple(row[0][key] for key in COLUMNS) for row in table_rows()]
    assert sorted(combinations) == sorted(itertools.product((False, True), repeat=6))
    assert set(COLUMNS) == set(ANSWERS)


@pytest.mark.parametrize("answers, expected", table_rows(),
                         ids=[line.rsplit(None, 1)[0].replace(" ", "") for line in EXPECTED_TABLE.strip().splitlines()])
def test_strategy_for_every_combination(answers, expected):
    assert select_strategy(answers)["strategy"] == expected


@pytest.mark.parametrize("answers, expected", table_rows()[:8])
def test_false_answers_may_be_left_out(answers, expected):
    only_true = {key: value for key, value in answers.items() if value}
    assert select_strategy(only_true)["strategy"] == expected


@pytest.mark.parametrize("answers, strategy, named", [
    ({"downtime_ok": True, "resources_limited": True}, "recreate", ["downtime_ok", "resources_limited"]),
    ({"downtime_ok": True, "full_validation": True}, "blue_green", ["downtime_ok", "full_validation"]),
    ({"downtime_ok": True}, "rolling", ["downtime_ok", "resources_limited", "full_validation"]),
    ({"instant_rollback": True, "spare_capacity": True}, "blue_green", ["instant_rollback", "spare_capacity"]),
    ({"high_risk": True}, "canary", ["downtime_ok", "high_risk"]),
    ({"high_risk": True, "instant_rollback": True, "spare_capacity": True}, "canary", ["high_risk"]),
    ({"full_validation": True}, "rolling", ["high_risk", "spare_capacity"]),
    ({"spare_capacity": True}, "rolling", ["instant_rollback"]),
    ({}, "rolling", ["downtime_ok", "high_risk", "spare_capacity"]),
])
def test_reason_names_the_deciding_answers(answers, strategy, named):
    result = select_strategy(answers)
    assert result["strategy"] == strategy
    for key in named:
        assert key in result["reason"]
    assert result["reason"].endswith(".") and result["reason"].count(".") == 1


def test_reason_leaves_out_answers_that_did_not_matter():
    reason = select_strategy({"high_risk": True, "downtime_ok": True, "resources_limited": True})["reason"]
    assert "resources_limited" in reason
    assert "high_risk" not in reason


@pytest.mark.parametrize("value, expected", [
    ("yes", True), ("no", False), ("true", True), ("False", False), (1, True), (0, False), ("1", True),
    ("0", False), ("on", True), ("off", False), (True, True), (False, False), (None, False),
])
def test_answers_are_read_as_ansible_reads_booleans(value, expected):
    assert read_answers({"high_risk": value})["high_risk"] is expected


def test_missing_answers_are_false():
    assert read_answers({}) == dict.fromkeys(ANSWERS, False)


@pytest.mark.parametrize("answers, fragments", [
    ({"high_risk": "maybe"}, ["high_risk", "'maybe'"]),
    ({"spare_capacity": 2}, ["spare_capacity", "2"]),
    ({"instant_rollback": [True]}, ["instant_rollback", "[True]"]),
    ({"downtime": True}, ["downtime", "downtime_ok"]),
    ({"high_risk": True, "zero_downtime": False}, ["zero_downtime"]),
    (["high_risk"], ["mapping", "['high_risk']"]),
    ("high_risk", ["mapping", "'high_risk'"]),
])
def test_bad_answers_are_refused_by_name(answers, fragments):
    with pytest.raises(StrategyError) as error:
        select_strategy(answers)
    for fragment in fragments:
        assert fragment in str(error.value)
