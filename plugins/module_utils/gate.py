# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate interface: something that judges a batch, a canary step or an observation window.

A gate measures (probes a host, reads the load balancer's counters, queries a metrics store) and
returns a Verdict: pass, fail or inconclusive, the reasons in sentences that name the figures,
and the figures themselves for the task's result. The modules turn a verdict that did not pass
into their own error; a gate itself raises only when it cannot measure at all.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Dict, List

__all__ = ["FAIL", "INCONCLUSIVE", "PASS", "Gate", "Verdict"]

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclasses.dataclass
class Verdict:
    """What a gate found: ``outcome`` (pass, fail or inconclusive), why, and what it measured."""

    gate: str
    outcome: str
    reasons: List[str] = dataclasses.field(default_factory=list)
    figures: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in (PASS, FAIL, INCONCLUSIVE):
            raise ValueError("outcome %r: expected %s, %s or %s" % (self.outcome, PASS, FAIL, INCONCLUSIVE))

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    def blocks(self, fail_on_inconclusive: bool = False) -> bool:
        """True when the step must not go on: a failure, or an inconclusive verdict where that counts as one."""
        return self.outcome == FAIL or (fail_on_inconclusive and self.outcome == INCONCLUSIVE)


class Gate(abc.ABC):
    """One way of judging; ``name`` says which in messages (health probe, LB counters, ...)."""

    name = ""

    @abc.abstractmethod
    def judge(self) -> Verdict:
        """Measure and judge; raise a LastmileError only when nothing could be measured as asked."""
