# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a check run says it would do."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.plan.statement import describe_plan

RELEASES = {"web1": ("1.0", "2.0"), "web2": ("1.0", "2.0"), "web3": ("2.0", "2.0")}
OPENING = "Check mode: nothing was changed, no window was waited for and no traffic was judged. "


def test_batches_are_said_in_order_with_their_releases_and_the_hosts_that_keep_theirs():
    said = describe_plan("rolling", "deployment of shop 2.0", [["web1"], ["web2"]], ["web1", "web2", "web3"], RELEASES,
                         {"lb": True, "observe_seconds": 3})
    assert said == (OPENING + "The deployment of shop 2.0 would move 2 hosts in 2 batches, in this order: 1. web1: 1.0 "
                    "-> 2.0; 2. web2: 1.0 -> 2.0. Each batch is drained in the load balancer, switched, restarted, "
                    "verified directly and given its traffic back, then watched 3 s on the LB counters. web3 would keep 2.0.")


def test_a_rollback_and_a_run_without_a_load_balancer_say_no_watch_and_no_drain():
    assert describe_plan("rollback", "rollback of shop", [["web1", "web2"]], ["web1", "web2"], RELEASES,
                         {"lb": True, "observe_seconds": 3, "undoing": True}).endswith(
        "verified directly and given its traffic back.")
    assert describe_plan("rolling", "deployment", [["web1"]], ["web1"], RELEASES, {"lb": False}).endswith(
        "1 host in 1 batch, in this order: 1. web1: 1.0 -> 2.0. Each batch is switched, restarted and verified directly.")


def test_canary_blue_green_recreate_and_an_empty_plan():
    canary = describe_plan("canary", "deployment", [["web1"], ["web2"]], ["web1", "web2"], RELEASES,
                           {"lb": True, "canary_percents": [10, 100], "canary_interval": 30})
    assert "canary (web1: 1.0 -> 2.0) out of rotation" in canary and "steps of 10 %, 100 %, each judged over 30 s" in canary
    assert "Then the rest in 1 batch: 2. web2: 1.0 -> 2.0." in canary
    colours = describe_plan("blue_green", "deployment", [["web1", "web2"]], ["web1", "web2", "web3"], RELEASES,
                            {"target": "green", "other": "blue", "colour_hosts": {"blue": ["web3"]}})
    assert "switch the idle colour green (web1: 1.0 -> 2.0, web2: 1.0 -> 2.0) and verify it, then give it all traffic " \
           "and blue (web3) weight 0" in colours
    assert "service is down in between" in describe_plan("recreate", "deployment", [["web1", "web2"]], ["web1", "web2"],
                                                         RELEASES, {"lb": True})
    assert describe_plan("rolling", "deployment", [], ["web3"], RELEASES) == (
        OPENING + "The deployment would move no host. web3 would keep 2.0.")
