# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing a deployment strategy from a release manager's answers about the release.

The rules, first match wins:

a. downtime_ok and resources_limited: recreate
b. (instant_rollback or full_validation) and spare_capacity and not resources_limited: blue_green
c. high_risk: canary
d. full_validation: canary
e. otherwise: rolling
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Dict, List

from ansible.module_utils.parsing.convert_bool import boolean

ANSWERS = ("downtime_ok", "resources_limited", "full_validation", "high_risk", "spare_capacity", "instant_rollback")
STRATEGIES = ("recreate", "rolling", "blue_green", "canary")


class StrategyError(ValueError):
    """The answers cannot be read."""


def read_answers(answers) -> Dict[str, bool]:
    """Every answer as a bool: missing (or null) is false; 'yes', 'no', 1, 0 read as Ansible reads them."""
    if not isinstance(answers, Mapping):
        raise StrategyError("answers must be a mapping of question to true/false, got %r" % (answers,))
    unknown = sorted(str(key) for key in answers if key not in ANSWERS)
    if unknown:
        raise StrategyError("unknown answer(s) %s; expected some of %s" % (", ".join(unknown), ", ".join(ANSWERS)))
    read = {}
    for key in ANSWERS:
        value = answers.get(key)
        if value is None:
            read[key] = False
            continue
        try:
            read[key] = boolean(value, strict=True)
        except TypeError:
            raise StrategyError("answer %s=%r is not a boolean; use true/false, yes/no or 1/0" % (key, value)) from None
    return read


def select_strategy(answers) -> Dict[str, str]:
    """The strategy for ``answers`` and one sentence naming the answers that decided it."""
    given = read_answers(answers)
    downtime_ok, resources_limited = given["downtime_ok"], given["resources_limited"]
    full_validation, high_risk = given["full_validation"], given["high_risk"]
    spare_capacity, instant_rollback = given["spare_capacity"], given["instant_rollback"]
    room_for_copy = spare_capacity and not resources_limited

    if downtime_ok and resources_limited:
        return _choice("recreate", "downtime_ok and resources_limited are both true, so the simplest strategy "
                                   "fits: no extra capacity is needed and the downtime is accepted")
    if (instant_rollback or full_validation) and room_for_copy:
        return _choice("blue_green", "%s with spare_capacity and resources_limited false: a full idle copy is "
                                     "verified before it takes traffic, and the old colour stays for an instant "
                                     "switch back" % _joined([key for key in ("instant_rollback", "full_validation")
                                                             if given[key]]))
    no_copy = _no_copy_reason(resources_limited)
    if high_risk:
        missed = [key for key in ("instant_rollback", "full_validation") if given[key]]
        note = " (%s would call for blue_green, but %s)" % (_joined(missed), no_copy) if missed else ""
        return _choice("canary", "high_risk is true%s: a small share of real traffic reaches the release first, "
                                 "with analysis and automatic rollback" % note)
    if full_validation:
        return _choice("canary", "full_validation is true but %s, so there is no room for a blue_green copy: "
                                 "the release is validated on a share of real traffic instead" % no_copy)
    notes = []
    if downtime_ok:
        notes.append("downtime_ok alone does not call for recreate while resources_limited is false")
    if instant_rollback:
        notes.append("instant_rollback needs blue_green, but %s" % no_copy)
    return _choice("rolling", "neither high_risk nor full_validation is true%s, so hosts are updated in batches "
                              "with no downtime and no extra capacity" % "".join("; " + note for note in notes))


def _no_copy_reason(resources_limited: bool) -> str:
    """Why blue_green had no room, once rule b did not match although it was asked for."""
    return "resources_limited is true" if resources_limited else "spare_capacity is false"


def _joined(keys: List[str]) -> str:
    return " and ".join(keys)


def _choice(strategy: str, why: str) -> Dict[str, str]:
    return {"strategy": strategy, "reason": why + "."}
