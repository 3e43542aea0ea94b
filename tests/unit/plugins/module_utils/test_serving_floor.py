# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_min_healthy: how many servers must keep serving, and which batches would leave fewer."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.lb.serving import (
    ServingError,
    floor_problems,
    minimum_serving,
    not_serving,
    serving,
    too_few_left,
)


def server(up=True, admin="ready", weight=100, status=None):
    return {"up": up, "admin": admin, "weight": weight, "status": status or ("UP" if up else "DOWN")}


FLEET = {"web1": server(), "web2": server(), "web3": server(up=False), "web4": server()}


def test_who_serves_and_why_the_others_do_not():
    servers = dict(FLEET, web5=server(admin="drain"), web6=server(weight=0), web7=server(up=False, admin="maint", status="MAINT"))
    assert serving(servers) == ["web1", "web2", "web4"]
    assert not_serving(servers) == {"web3": "DOWN", "web5": "drain", "web6": "weight 0", "web7": "MAINT"}


@pytest.mark.parametrize("setting, expected", [
    ("", 3), (None, 3), (2, 2), ("2", 2), (0, 0), ("50%", 2), ("51%", 3), ("100%", 4), ("0%", 0), (" 75 % ", 3),
])
def test_the_minimum_is_a_count_a_share_rounded_up_or_the_fleet_but_the_largest_batch(setting, expected):
    assert minimum_serving(setting, 4, 1) == expected


@pytest.mark.parametrize("setting", [-1, "-1", "x", "101%", True, 2.5, "3 hosts", []])
def test_a_bad_minimum_is_refused_naming_the_value(setting):
    with pytest.raises(ServingError, match=r"deploy_min_healthy %s" % __import__("re").escape(repr(setting))):
        minimum_serving(setting, 4, 1)


def test_a_batch_that_would_leave_too_few_serving_is_named_with_the_numbers():
    # web3 is already down: with the default floor (4 - 1), draining any serving host leaves 2 of 3 needed
    assert floor_problems([["web1"], ["web2"], ["web3"], ["web4"]], FLEET, minimum_serving("", 4, 1)) == [
        "batch 1: taking web1 out would leave 2 of 4 servers serving (web2, web4), fewer than the 3 that must keep "
        "serving (not serving now: web3 DOWN)",
        "batch 2: taking web2 out would leave 2 of 4 servers serving (web1, web4), fewer than the 3 that must keep "
        "serving (not serving now: web3 DOWN)",
        "batch 4: taking web4 out would leave 2 of 4 servers serving (web1, web2), fewer than the 3 that must keep "
        "serving (not serving now: web3 DOWN)",
    ]
    assert floor_problems([["web1"], ["web2"]], FLEET, 2) == []


def test_taking_out_only_servers_that_do_not_serve_takes_no_capacity():
    nothing_serves = {name: server(up=False) for name in ("web1", "web2", "web3")}  # a first deployment
    assert too_few_left(nothing_serves, ["web1"], 2) is None
    assert too_few_left(FLEET, ["web3"], 4) is None


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "f"]),
                       st.builds(server, up=st.booleans(), admin=st.sampled_from(["ready", "drain", "maint"]),
                                 weight=st.integers(0, 3)), min_size=1),
       st.data())
def test_a_batch_passes_exactly_when_enough_others_serve_or_it_takes_no_capacity(servers, data):
    taken = data.draw(st.lists(st.sampled_from(sorted(servers)), unique=True))
    minimum = data.draw(st.integers(0, len(servers)))
    others = [name for name in serving(servers) if name not in taken]
    takes_capacity = any(name in serving(servers) for name in taken)
    problem = too_few_left(servers, taken, minimum)
    assert (problem is None) == (len(others) >= minimum or not takes_capacity)
    if problem:
        assert "would leave %d of %d servers serving" % (len(others), len(servers)) in problem
