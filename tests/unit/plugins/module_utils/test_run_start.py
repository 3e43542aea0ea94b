# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The start of a run, judged once from the lock results and the LB reading (module_utils/run/start.py)."""

from __future__ import annotations

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.run.start import (
    RunStartError,
    lb_state,
    lock_problems,
    start,
)

HOSTS = ["web1", "web2", "web3"]
TAKEN = {"holder": {"run": "r2"}, "changed": False}
SERVERS = {"web1": {"admin": "ready", "weight": 100, "up": True},
           "web2": {"admin": "ready", "weight": 100, "up": True},
           "web3": {"admin": "ready", "weight": 100, "up": True}}
NAMES = {host: host for host in HOSTS}
ADVICE = ": wait for that run to finish or, if it died, break the lock with force=true"


def test_every_lock_taken_is_no_problem():
    assert lock_problems("shop", {host: TAKEN for host in HOSTS}, HOSTS) is None


def test_hosts_without_a_lock_result_took_no_part():
    assert lock_problems("shop", {"web1": TAKEN}, HOSTS) is None


def test_a_lock_held_by_another_run_names_the_host_and_the_way_out():
    held = {"holder": {"run": "r1"}, "msg": "held by run r1 (deploy of shop v2) since 12:00" + ADVICE}
    msg = lock_problems("shop", {"web1": TAKEN, "web2": held, "web3": TAKEN}, HOSTS)
    assert msg == ("Another run holds the deployment lock of shop, nothing was changed: web2: held by run r1 "
                   "(deploy of shop v2) since 12:00. Wait for it to finish; if that run is dead, run again with "
                   "-e deploy_lock_break=true.")


def test_a_host_that_could_not_run_the_module_is_named_with_its_cause_first():
    broken = {"msg": "Task failed: The module interpreter '/nope' was not found.\nmore", "rc": 127,
              "module_stderr": "line\n/bin/sh: /nope: not found\n"}
    lost = {"msg": "Failed to connect to the host via ssh", "unreachable": True}
    held = {"holder": {}, "msg": "held by run r1"}
    msg = lock_problems("shop", {"web1": broken, "web2": lost, "web3": held}, HOSTS)
    assert msg.startswith("The deployment lock of shop was not taken, nothing was changed: "
                          "web1: The module interpreter '/nope' was not found (rc 127, /bin/sh: /nope: not found); "
                          "web2: unreachable: Failed to connect to the host via ssh.")
    # the refusal follows, without claiming a second time that nothing changed
    assert msg.endswith(" Another run holds the deployment lock of shop: web3: held by run r1. Wait for it to finish; "
                        "if that run is dead, run again with -e deploy_lock_break=true.")


def test_stderr_that_repeats_the_message_is_not_said_twice():
    same = {"msg": "boom", "rc": 1, "module_stderr": "boom"}
    assert "web1: boom (rc 1)." in lock_problems("shop", {"web1": same}, HOSTS)


def test_the_lock_is_judged_before_the_load_balancer():
    held = {"holder": {}, "msg": "held by run r1"}
    with pytest.raises(RunStartError, match="Another run holds"):
        start("shop", HOSTS, {"web1": held}, NAMES, {"msg": "socket /x: connection refused"}, "shop")


def test_a_load_balancer_that_could_not_be_read_stops_the_run_with_its_reason():
    with pytest.raises(RunStartError, match=r"could not be read, nothing was changed: socket /x: connection refused"):
        start("shop", HOSTS, {}, NAMES, {"msg": "socket /x: connection refused", "failed": False}, "shop")


def test_a_server_the_load_balancer_does_not_know_is_named_with_the_servers_it_has():
    names = dict(NAMES, web2="ghost-web2")
    with pytest.raises(RunStartError) as raised:
        start("shop", HOSTS, {}, names, {"servers": SERVERS}, "shop")
    assert str(raised.value) == (
        'The load balancer does not know every host, nothing was changed: web2: server "ghost-web2" is not in HAProxy '
        'backend "shop" (servers there: web1, web2, web3); set deploy_lb_server for this host')


def test_without_a_load_balancer_nothing_is_read_and_nothing_is_known():
    assert start("shop", HOSTS, {}, NAMES, None, "") == {"before": {}, "now": {}, "inherited": {}, "left_out": []}


def test_what_a_dead_run_read_before_it_changed_anything_wins_and_names_what_it_left_out():
    now = dict(SERVERS, web2={"admin": "maint", "weight": 100, "up": True}, web3={"admin": "ready", "weight": 0, "up": True})
    dead = {"web2": SERVERS["web2"], "web3": SERVERS["web3"]}
    locks = {"web1": dict(TAKEN, inherited={"lb_before": dead}), "web2": TAKEN, "web3": TAKEN}
    state = start("shop", HOSTS, locks, NAMES, {"servers": now}, "shop")
    assert state["before"] == SERVERS
    assert state["now"] == now and state["inherited"] == dead
    assert state["left_out"] == ["web2", "web3"]


def test_a_server_the_dead_run_left_as_it_found_it_is_not_left_out():
    state = lb_state(SERVERS, [{"web1": SERVERS["web1"]}], NAMES)
    assert state["left_out"] == []


def each_lb(**readings):
    """The registered result of reading each LB host in a loop."""
    return {"results": [dict(reading, traffic_lb=lb, ansible_loop_var="traffic_lb") for lb, reading in readings.items()]}


def test_several_lb_hosts_that_agree_start_from_one_state_up_only_where_every_one_sees_it_up():
    lb2 = dict(SERVERS, web3={"admin": "ready", "weight": 100, "up": False})
    state = start("shop", HOSTS, {}, NAMES, each_lb(lb1={"servers": SERVERS}, lb2={"servers": lb2}), "shop")
    assert state["before"] == lb2
    assert state["left_out"] == []


def test_lb_hosts_that_disagree_on_a_weight_stop_the_run_naming_both():
    lb2 = dict(SERVERS, web2={"admin": "drain", "weight": 0, "up": True})
    with pytest.raises(RunStartError) as raised:
        start("shop", HOSTS, {}, NAMES, each_lb(lb1={"servers": SERVERS}, lb2={"servers": lb2}), "shop")
    assert str(raised.value).startswith(
        'The load balancers disagree, nothing was changed: server "web2" is ready/100 on lb1 but drain/0 on lb2')


def test_each_lb_host_that_cannot_be_read_or_lacks_a_server_is_named():
    with pytest.raises(RunStartError, match=r"could not be read, nothing was changed: lb2: Failed to connect$"):
        start("shop", HOSTS, {}, NAMES, each_lb(lb1={"servers": SERVERS},
                                                lb2={"msg": "Failed to connect\nmore", "unreachable": True}), "shop")
    partial = {name: server for name, server in SERVERS.items() if name != "web3"}
    with pytest.raises(RunStartError, match=r'web3: server "web3" is not in HAProxy backend "shop" on lb2 '):
        start("shop", HOSTS, {}, NAMES, each_lb(lb1={"servers": SERVERS}, lb2={"servers": partial}), "shop")


def test_no_lb_host_at_all_is_an_error():
    with pytest.raises(RunStartError, match="No load balancer host was read"):
        start("shop", HOSTS, {}, NAMES, {"results": []}, "shop")


def test_a_dead_run_that_drained_a_server_on_one_lb_host_only_left_it_out_and_is_not_a_disagreement():
    lb2 = dict(SERVERS, web1={"admin": "drain", "weight": 100, "up": True})
    locks = {"web1": dict(TAKEN, inherited={"lb_before": {"web1": SERVERS["web1"]}})}
    state = start("shop", HOSTS, locks, NAMES, each_lb(lb1={"servers": SERVERS}, lb2={"servers": lb2}), "shop")
    assert state["before"] == SERVERS
    assert state["left_out"] == ["web1"]
