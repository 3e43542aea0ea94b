# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing a deployment strategy from a release manager's answers about the release.

The deployment guide's decision tree, first question first:

- downtime acceptable?
  - yes: resources limited? yes: recreate. no: full validation needed? yes: blue_green; no: rolling.
  - no: high-risk update? yes: canary. no: spare capacity? yes: instant rollback needed?
    yes: blue_green; no: rolling. no spare capacity: rolling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Dict

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

ANSWERS = ("downtime_ok", "resources_limited", "full_validation", "high_risk", "spare_capacity", "instant_rollback")
STRATEGIES = ("recreate", "rolling", "blue_green", "canary")


class StrategyError(LastmileError, ValueError):
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
    """The strategy the decision tree gives for ``answers``, and one sentence naming the answers on its path."""
    given = read_answers(answers)
    if given["downtime_ok"]:
        if given["resources_limited"]:
            return _choice("recreate", "downtime_ok and resources_limited are true: no extra capacity is needed and "
                                       "the downtime is accepted")
        if given["full_validation"]:
            return _choice("blue_green", "downtime_ok and full_validation are true and resources_limited is false: "
                                         "a full idle copy is verified before it takes traffic")
        return _choice("rolling", "downtime_ok is true but resources_limited and full_validation are false: hosts "
                                  "are updated in batches, with no downtime and no extra capacity")
    if given["high_risk"]:
        return _choice("canary", "downtime_ok is false and high_risk is true: a small share of real traffic reaches "
                                 "the release first, with analysis and automatic rollback")
    if given["spare_capacity"] and given["instant_rollback"]:
        return _choice("blue_green", "downtime_ok and high_risk are false, spare_capacity and instant_rollback are "
                                     "true: the old colour keeps running for an instant switch back")
    missing = "instant_rollback is false" if given["spare_capacity"] else "spare_capacity is false"
    return _choice("rolling", "downtime_ok and high_risk are false and %s: hosts are updated in batches, with no "
                              "downtime and no extra capacity" % missing)


def _choice(strategy: str, why: str) -> Dict[str, str]:
    return {"strategy": strategy, "reason": why + "."}
