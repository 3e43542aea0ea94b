# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary traffic: the HAProxy weights that give canary servers a share of a backend's traffic.

The share canary servers get is ``sum(canary weights) / sum(all weights)``. Weights are whole
numbers from 0 to 256, so most shares can only be approached. ``split_traffic`` works with exact
fractions. For 0 < percent < 100 it first sets ideal (unrounded) weights that give exactly the
requested share: stable servers at their base weights (at a whole multiple of them only when the
base weights are too small to reach the share), canary servers in proportion to their base
weights; when a canary would need more than 256, the canary servers are scaled so the largest
weighs 256 and the stable servers are scaled down instead. A base weight of 0 counts as 1. Then:

- every weight is its ideal weight rounded down or up, and at least 1;
- among all roundings allowed by that rule, the share is the closest to the request;
- ``|share - percent / 100| <= 1 / (2 * total)``, total being the sum of the returned weights:
  the share is off by at most half of what one unit of weight moves.

A request that cannot meet these guarantees is refused with the closest share that is possible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Dict, List, NamedTuple, Sequence, Tuple

MAX_WEIGHT = 256
HALF = Fraction(1, 2)


class TrafficError(ValueError):
    """Weights for the requested traffic share cannot be computed from the values given."""


class TrafficSplit(NamedTuple):
    """The weights for one traffic share, with what they were rounded from."""

    weights: Dict[str, int]
    ideal: Dict[str, Fraction]
    share: Fraction


def parse_percent(value, what: str = "percent") -> Fraction:
    """``value`` (number, or text such as '12.5' or '12.5%') as an exact fraction within 0..100."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TrafficError("%s %r is not a number from 0 to 100" % (what, value))
    if isinstance(value, int):
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
    """Stable servers at their base weights times a whole factor (1 whenever that meets the guarantee).

    Canary weights are rounded from their exact proportional values. When factor 1 cannot meet
    the guarantee, the factor (up to the weight limit) that gives the closest share is used.
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
            if factor == 1 or rounded.error == 0:
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

    Each weight is its ideal rounded down or up, and at least 1. ``met`` tells whether the share
    is within half a weight unit of the requested one (``1 / (2 * total)``).
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
    return _Rounded(weights, total, error(total), error(total) * 2 * (total + other_total) <= 1)


def _percent_text(share: Fraction) -> str:
    """A share as a percentage with up to four decimals, e.g. '0.2494'."""
    return ("%.4f" % float(share * 100)).rstrip("0").rstrip(".")
