# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run would do, said by a check run instead of doing it: the order of the moves, nothing measured."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.lastmile.deploy.plugins.module_utils.run.messages import hosts_text


def _moves(hosts: Sequence[str], releases: Mapping[str, Sequence[Optional[str]]]) -> str:
    """``web1: 1.0 -> 2.0, web2: no release -> 2.0``."""
    pairs = [(host,) + tuple(releases.get(host) or (None, None)) for host in hosts]
    return ", ".join("%s: %s -> %s" % (host, now or "no release", after or "no release") for host, now, after in pairs)


def _batches(plan: Sequence[Sequence[str]], releases: Mapping[str, Sequence[Optional[str]]], first: int = 1) -> str:
    return "; ".join("%d. %s" % (number, _moves(batch, releases)) for number, batch in enumerate(plan, first))


def _count(number: int, word: str) -> str:
    return "%d %s%s" % (number, word, "" if number == 1 else ("es" if word.endswith("ch") else "s"))


def _batch_steps(details: Mapping[str, Any]) -> str:
    watch = float(details.get("observe_seconds") or 0)
    steps = "is drained in the load balancer, switched, restarted, verified directly and given its traffic back"
    if not details.get("lb"):
        steps = "is switched, restarted and verified directly"
    elif watch > 0 and not details.get("undoing"):
        steps += ", then watched %g s on the LB counters" % watch
    return steps


def describe_plan(strategy: str, title: str, plan: Sequence[Sequence[str]], hosts: Sequence[str],
                  releases: Mapping[str, Sequence[Optional[str]]], details: Optional[Mapping[str, Any]] = None) -> str:
    """One statement of what the run ``title`` would do with ``plan`` (its batches, in order; the strategy's own
    first step first), for a check run: nothing is changed, no window is waited for and no traffic judged.

    ``releases``: host -> (release now, release it would move to). ``details``: ``lb`` (a load balancer is
    driven), ``observe_seconds``, ``undoing``; for a canary ``canary_percents`` and ``canary_interval``; for
    blue-green ``target``, ``other`` and ``colour_hosts`` (colour -> hosts).
    """
    details = dict(details or {})
    plan = [list(batch) for batch in plan if batch]
    moving = [host for batch in plan for host in batch]
    staying = [host for host in hosts if host not in moving]
    said = ["Check mode: nothing was changed, no window was waited for and no traffic was judged."]
    if not plan:
        said.append("The %s would move no host." % title)
    elif strategy == "recreate":
        said.append("The %s would stop the service on %s at once, switch them (%s), start and verify them%s; the "
                    "service is down in between." % (
                        title, hosts_text(moving, len(hosts)), _moves(moving, releases),
                        ", with their servers out of the load balancer until then" if details.get("lb") else ""))
    elif strategy == "blue_green":
        colours: Dict[str, List[str]] = dict(details.get("colour_hosts") or {})
        other = details.get("other") or "the live colour"
        said.append("The %s would switch the idle colour %s (%s) and verify it, then give it all traffic and %s (%s) "
                    "weight 0, in one load-balancer round trip." % (
                        title, details.get("target") or "", _moves(plan[0], releases), other,
                        ", ".join(colours.get(other, [])) or "no host"))
    elif strategy == "canary":
        percents = [str(percent) for percent in details.get("canary_percents") or []]
        said.append("The %s would move the canary (%s) out of rotation (switched, restarted, verified directly), then "
                    "shift traffic to it in steps of %s %%, each judged over %g s on the LB counters, then give every "
                    "server its weight back." % (title, _moves(plan[0], releases), " %, ".join(percents) or "no",
                                                 float(details.get("canary_interval") or 0)))
        if plan[1:]:
            said.append("Then the rest in %s: %s. Each batch %s." % (
                _count(len(plan) - 1, "batch"), _batches(plan[1:], releases, 2), _batch_steps(details)))
    else:
        said.append("The %s would move %s in %s, in this order: %s. Each batch %s." % (
            title, _count(len(moving), "host"), _count(len(plan), "batch"), _batches(plan, releases),
            _batch_steps(details)))
    if staying:
        kept = sorted({str(releases.get(host, (None, None))[0] or "no release") for host in staying})
        said.append("%s would keep %s." % (hosts_text(staying), " and ".join(kept)))
    return " ".join(said)
