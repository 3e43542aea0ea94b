# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary traffic: the HAProxy weights that give canary servers a share of a backend's traffic.

The share canary servers get is ``sum(canary weights) / sum(all weights)``. Weights are whole
numbers from 0 to 256, so most shares can only be approached. ``split_traffic`` works with exact
fractions. For 0 < percent < 100 it first sets ideal (unrounded) weights that give exactly the
requested share: stable servers at their base weights, canary servers in proportion to their base
weights (a base weight of 0 counts as 1). Then it rounds one side: the canary weights, or, when a
canary would need more than 256, the stable weights, after the canary servers are scaled so the
largest weighs 256 (rounded to whole weights). The result guarantees:

- every weight is its ideal weight rounded down or up, and at least 1;
- among all roundings allowed by that rule, the share is the closest to the request;
- ``|share - percent / 100| <= 1 / (2 * total)``, total being the sum of the returned weights:
  the share is off by at most half of what one unit of weight moves.

Stable servers keep their base weights when that meets these rules and the share is off by at
most 5 % of the smaller of the canary and stable shares (10 % asked, 9.5 % to 10.5 % given).
Otherwise (small base weights, where even weight 1 per canary is too coarse) they are scaled by
the whole factor, within 256, that gives the closest share. A request no weights can meet is
refused, naming the closest share that is possible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Dict, List, NamedTuple, Tuple

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

MAX_WEIGHT = 256
HALF = Fraction(1, 2)
# stable servers keep their base weights when the share is off by at most this part of the smaller
# of the canary and stable shares (10 % asked, 9.5 % to 10.5 % given)
BASE_TOLERANCE = Fraction(1, 20)


class TrafficError(LastmileError, ValueError):
    """Weights for the requested traffic share cannot be computed from the values given."""


class TrafficSplit(NamedTuple):
    """The weights for one traffic share, with what they were rounded from."""

    weights: Dict[str, int]
    ideal: Dict[str, Fraction]
    share: Fraction


def parse_percent(value, what: str = "percent") -> Fraction:
    """``value`` (number, or text such as '12.5' or '12.5%') as an exact fraction within 0..100."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
        raise TrafficError("%s %r is not a number from 0 to 100" % (what, value))
    if isinstance(value, (int, Fraction)):
        exact = Fraction(value)
    else:
        text = value.strip()[:-1] if isinstance(value, str) and value.strip().endswith("%") else value
        try:
            number = float(text)
        except ValueError:
            raise TrafficError("%s %r is not a number from 0 to 100" % (what, value)) from None
        if not math.isfinite(number):
            raise TrafficError("%s %r is not a number from 0 to 100" % (what, value))
        # repr() gives the shortest decimal of the float: 0.1 stays one tenth, not its binary neighbour
        exact = Fraction(repr(number))
    if not 0 <= exact <= 100:
        raise TrafficError("%s %r is outside 0..100" % (what, value))
    return exact


def plain_number(value: Fraction):
    """An exact fraction as an int when it is whole, else as a float."""
    return int(value) if value.denominator == 1 else float(value)


def check_weights(base_weights) -> Dict[str, int]:
    """Validate ``base_weights`` (server name -> HAProxy weight 0..256)."""
    if not isinstance(base_weights, Mapping) or not base_weights:
        raise TrafficError("base_weights must be a non-empty mapping of server name to weight, got %r"
                           % (base_weights,))
    for name, weight in base_weights.items():
        if not isinstance(name, str) or not name:
            raise TrafficError("base_weights has server name %r; expected a non-empty string" % (name,))
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise TrafficError("weight %r of server %r is not a whole number from 0 to %d"
                               % (weight, name, MAX_WEIGHT))
    return dict(base_weights)


def check_canary(canary, servers: Mapping) -> List[str]:
    """Validate ``canary`` (server names out of ``servers``); duplicates are dropped, order kept."""
    if isinstance(canary, (str, bytes)) or not isinstance(canary, Sequence):
        raise TrafficError("canary must be a list of server names, got %r" % (canary,))
    for name in canary:
        if not isinstance(name, str):
            raise TrafficError("canary server name %r is not a string" % (name,))
    names = list(dict.fromkeys(canary))
    if not names:
        raise TrafficError("canary is empty: name at least one server of base_weights")
    unknown = [name for name in names if name not in servers]
    if unknown:
        raise TrafficError("canary server(s) %s not in base_weights (known servers: %s)"
                           % (", ".join(unknown), ", ".join(sorted(servers))))
    return names


def split_traffic(base_weights, canary, percent) -> TrafficSplit:
    """Weights for all servers of ``base_weights`` that give ``canary`` ``percent`` % of the traffic."""
    weights = check_weights(base_weights)
    canary_names = check_canary(canary, weights)
    share = parse_percent(percent) / 100
    stable_names = [name for name in weights if name not in canary_names]
    # a server at weight 0 still counts as 1: every canary must be able to take traffic
    effective = {name: max(weight, 1) for name, weight in weights.items()}

    if share == 0 and not stable_names:
        raise TrafficError("percent 0 leaves no server with traffic: every server in base_weights is a canary")
    if share in (0, 1):
        on = canary_names if share == 1 else stable_names
        ideal = {name: Fraction(effective[name] if name in on else 0) for name in weights}
        return TrafficSplit({name: int(value) for name, value in ideal.items()}, ideal, share)
    if not stable_names:
        raise TrafficError("percent %s needs stable servers, but every server in base_weights is a canary; "
                           "use 100 to send all traffic to the canary servers" % (percent,))

    canary_base = {name: effective[name] for name in canary_names}
    stable_base = {name: effective[name] for name in stable_names}
    widest_at_base = Fraction(max(canary_base.values()) * sum(stable_base.values()), sum(canary_base.values()))
    if widest_at_base * share / (1 - share) > MAX_WEIGHT:
        rounded, ideal = _canary_capped(canary_base, stable_base, share, percent)
    else:
        rounded, ideal = _stable_scaled(canary_base, stable_base, share, percent)
    canary_total = sum(rounded[name] for name in canary_names)
    return TrafficSplit({name: rounded[name] for name in weights}, {name: ideal[name] for name in weights},
                        Fraction(canary_total, sum(rounded.values())))


def _stable_scaled(canary_base: Dict[str, int], stable_base: Dict[str, int], share: Fraction,
                   percent) -> Tuple[Dict[str, int], Dict[str, Fraction]]:
    """Stable servers at their base weights times a whole factor; canary weights rounded to match.

    Factor 1 when its share is close enough (``BASE_TOLERANCE``), else the factor, within the
    weight limit, whose share is the closest (the smallest such factor).
    """
    stable_total = sum(stable_base.values())
    canary_total = sum(canary_base.values())
    widest_canary = max(canary_base.values())
    best = None  # (error, weights, ideal)
    closest = (Fraction(1), Fraction(1))  # (error, share) over every factor, for the refusal message
    for factor in range(1, MAX_WEIGHT // max(stable_base.values()) + 1):
        ideal_total = factor * stable_total * share / (1 - share)
        if ideal_total * widest_canary / canary_total > MAX_WEIGHT:
            break
        ideal = {name: ideal_total * base / canary_total for name, base in canary_base.items()}
        ideal.update((name, Fraction(factor * base)) for name, base in stable_base.items())
        rounded = _round_side({name: ideal[name] for name in canary_base}, factor * stable_total, share,
                              canary_side=True)
        achieved = Fraction(rounded.total, rounded.total + factor * stable_total)
        if abs(achieved - share) < closest[0]:
            closest = (abs(achieved - share), achieved)
        if rounded.met and (best is None or rounded.error < best[0]):
            weights = dict(rounded.weights, **{name: factor * base for name, base in stable_base.items()})
            best = (rounded.error, weights, ideal)
            if rounded.error == 0 or (factor == 1 and rounded.error <= BASE_TOLERANCE * min(share, 1 - share)):
                break
    if best is None:
        raise TrafficError(
            "percent %s cannot be met within half a weight unit: every canary server keeps weight 1 or more "
            "and weights stop at %d, so with the stable servers in proportion to their base weights the "
            "smallest share the canary servers can get near it is %s%%; ask for at least that, or give the "
            "stable servers higher base weights"
            % (percent, MAX_WEIGHT, _percent_text(closest[1])))
    return best[1], best[2]


def _canary_capped(canary_base: Dict[str, int], stable_base: Dict[str, int], share: Fraction,
                   percent) -> Tuple[Dict[str, int], Dict[str, Fraction]]:
    """Canary servers scaled so the largest weighs 256 (whole numbers), stable servers scaled down."""
    widest_canary = max(canary_base.values())
    canary_weights = {name: max(1, math.floor(Fraction(MAX_WEIGHT * base, widest_canary) + HALF))
                      for name, base in canary_base.items()}
    canary_total = sum(canary_weights.values())
    stable_ideal_total = canary_total * (1 - share) / share
    stable_total = sum(stable_base.values())
    ideal = {name: Fraction(weight) for name, weight in canary_weights.items()}
    ideal.update((name, stable_ideal_total * base / stable_total) for name, base in stable_base.items())
    rounded = _round_side({name: ideal[name] for name in stable_base}, canary_total, share, canary_side=False)
    if not rounded.met:
        raise TrafficError(
            "percent %s cannot be met within half a weight unit: canary weights stop at %d and every stable "
            "server keeps weight 1 or more, so the largest share the canary servers can get below 100%% is "
            "%s%%; ask for at most that, or 100 to send all traffic to the canary servers"
            % (percent, MAX_WEIGHT, _percent_text(Fraction(canary_total, canary_total + rounded.total))))
    return dict(canary_weights, **rounded.weights), ideal


class _Rounded(NamedTuple):
    """One side's rounded weights, their total, the share error, and whether the guarantee holds."""

    weights: Dict[str, int]
    total: int
    error: Fraction
    met: bool


def _round_side(ideal: Dict[str, Fraction], other_total: int, share: Fraction, canary_side: bool) -> _Rounded:
    """Round one side's ideal weights to the total whose share is closest to ``share``.

    Each weight is its ideal rounded down or up, and at least 1. ``met`` tells whether the
    rounding meets the module's guarantee.
    """
    low = {name: max(1, math.floor(value)) for name, value in ideal.items()}
    high = {name: max(low[name], min(MAX_WEIGHT, math.ceil(value))) for name, value in ideal.items()}
    low_total, high_total = sum(low.values()), sum(high.values())
    target = sum(ideal.values())

    def error(total: int) -> Fraction:
        side_share = Fraction(total, total + other_total)
        return abs((side_share if canary_side else 1 - side_share) - share)

    # the error falls, then rises with the total: the best total brackets the ideal one
    candidates = {min(high_total, max(low_total, bound)) for bound in (math.floor(target), math.ceil(target))}
    total = min(candidates, key=lambda t: (error(t), abs(t - target), t))
    weights = dict(low)
    # the extra units go to the servers whose ideal weight was rounded down the most
    for name in sorted((name for name in ideal if high[name] > low[name]),
                       key=lambda name: low[name] - ideal[name])[:total - low_total]:
        weights[name] += 1
    # the lower bound of 1 per server can push the total too far (many servers with tiny ideals)
    return _Rounded(weights, total, error(total), error(total) * 2 * (total + other_total) <= 1)


def _percent_text(share: Fraction) -> str:
    """A share as a percentage with up to four decimals, e.g. '0.2494'."""
    return ("%.4f" % float(share * 100)).rstrip("0").rstrip(".")


DEFAULT_STEPS = (10, 50, 100)


def check_steps(steps) -> List[Fraction]:
    """Validate canary ``steps``: a non-empty list of percentages, each above 0 and at most 100, rising."""
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
        raise TrafficError("steps must be a non-empty list of percentages such as [10, 50, 100], got %r" % (steps,))
    parsed: List[Fraction] = []
    for position, step in enumerate(steps, start=1):
        value = parse_percent(step, what="step %d" % position)
        if value == 0:
            raise TrafficError("step %d is 0; every step must be above 0 and at most 100" % position)
        if parsed and value <= parsed[-1]:
            raise TrafficError("step %d (%s) does not rise above step %d (%s); steps must be strictly increasing"
                               % (position, step, position - 1, steps[position - 2]))
        parsed.append(value)
    return parsed


def plan_canary(base_weights, canary, steps=DEFAULT_STEPS) -> List[dict]:
    """For each step: the percent asked, the weights for it and the share they give (a float 0..1)."""
    plan = []
    for step in check_steps(steps):
        percent = plain_number(step)
        try:
            split = split_traffic(base_weights, canary, percent)
        except TrafficError as exc:
            raise TrafficError("canary step %s%%: %s" % (percent, exc)) from exc
        plan.append({"percent": percent, "weights": split.weights, "canary_share": float(split.share)})
    return plan
