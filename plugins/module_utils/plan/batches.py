# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployment planning: how a list of hosts is cut into batches."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Optional, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

# ASCII digits only: str.isdigit() and \d also accept digits int() cannot read ("²").
_PERCENT = re.compile(r"^\s*([0-9]{1,9}(?:\.[0-9]{1,30})?)\s*%\s*$")
_COUNT = re.compile(r"^\s*([0-9]{1,9})\s*$")


class PlanError(LastmileError, ValueError):
    """A plan cannot be made from the values given."""


def count_or_percent(spec) -> Tuple[Optional[int], Optional[Fraction]]:
    """``(3, None)`` for 3 or "3", ``(None, 25)`` for "25%" (exact), ``(None, None)`` for anything else."""
    if isinstance(spec, bool):
        return None, None
    if isinstance(spec, int):
        return spec, None
    if isinstance(spec, str):
        match = _PERCENT.match(spec)
        if match:
            return None, Fraction(match.group(1))  # exact: 10.0000000001 % of 10 hosts is 2, not 1
        count = _COUNT.match(spec)
        if count:
            return int(count.group(1)), None
    return None, None


def batch_size(total: int, spec) -> int:
    """Hosts per batch for ``total`` hosts: ``spec`` is a count (3) or a share ("25%")."""
    count, percent = count_or_percent(spec)
    if percent is not None:
        if not 0 < percent <= 100:
            raise PlanError("batch size %r must be a percentage above 0 and at most 100" % (spec,))
        return max(1, math.ceil(total * percent / 100)) if total else 0
    if count is None and isinstance(spec, (bool, str)):
        raise PlanError("batch size %r is not a number or a percentage such as 2 or '25%%'" % (spec,))
    if count is None or count < 1:
        raise PlanError("batch size %r must be a whole number of at least 1" % (spec if count is None else count,))
    return min(count, total) if total else 0


def split_batches(items, spec) -> list:
    """Cut ``items`` into consecutive batches of ``batch_size(len(items), spec)``, order kept."""
    items = list(items)
    size = batch_size(len(items), spec)
    return [items[i:i + size] for i in range(0, len(items), size)] if size else []


def next_batch(batches, host) -> dict:
    """The batch after ``host``'s, and the part of it ``host`` takes out of the load balancer once its own batch
    serves again: the next batch's hosts are dealt out in turn over the hosts of ``host``'s batch, so each takes out
    one or more, or none when the next batch is smaller. ``{'hosts': [], 'share': []}`` after the last batch and for a
    host in none."""
    for index, batch in enumerate(batches[:-1]):
        if host in batch:
            following = list(batches[index + 1])
            return dict(hosts=following, share=following[list(batch).index(host)::len(batch)])
    return dict(hosts=[], share=[])
