# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rollback says it undoes, before it changes anything."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import (
    deployment_index,
    rollback_target,
    undone_since,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.undo import describe_undo, run_to_undo


def entry(version, status, at, finished=None):
    """Times as the history writes them: ISO 8601 strings that sort in time order."""
    return {"version": version, "status": status, "switched_at": "2026-01-01T00:00:%02d.000000Z" % at,
            "finished_at": "2026-01-01T00:00:%02d.500000Z" % (finished or at)}


# 1.0 and 2.0 deployed; a canary of 3.0 failed and put 2.0 back (a switch: a new 2.0 entry)
AFTER_FAILED_CANARY = [entry("1.0", "succeeded", 1), entry("2.0", "succeeded", 2), entry("3.0", "failed", 3),
                       entry("2.0", "succeeded", 4)]
# the rollback of 2.0 to 1.0 done: 1.0 switched to again (a new entry), then 2.0 recorded rolled back
AFTER_ROLLBACK = [entry("1.0", "succeeded", 1), entry("2.0", "rolled_back", 2, finished=5), entry("1.0", "succeeded", 4)]


def test_a_failure_since_the_release_put_back_is_named_with_its_time():
    assert rollback_target(AFTER_FAILED_CANARY, "2.0", ["1.0", "2.0", "3.0"]) == "1.0"
    assert [(e["version"], e["status"]) for e in undone_since(AFTER_FAILED_CANARY, "2.0", "1.0")] == [("3.0", "failed")]
    said = describe_undo({"web1": {"current": "2.0", "target": "1.0", "history": AFTER_FAILED_CANARY}}, ["web1"])
    assert said["message"] == ("Rolling back: web1: removes 2.0, puts back 1.0. "
                               "Deployments already undone since: web1: 3.0 failed at 2026-01-01T00:00:03.500000Z.")


def test_without_a_target_what_was_rolled_back_after_the_current_release_is_named():
    assert rollback_target(AFTER_ROLLBACK, "1.0", ["1.0", "2.0"]) is None
    said = describe_undo({"web1": {"current": "1.0", "target": None, "history": AFTER_ROLLBACK}}, ["web1"])
    assert said["undone"] == ["web1: 2.0 was rolled back at 2026-01-01T00:00:05.500000Z"]
    assert said["current_undone"] == {}


def test_what_failed_before_the_current_release_was_put_back_is_not_named():
    # 3.0 failed and was restored before the rollback of 2.0: only 2.0's rollback came after 1.0 came back
    history = AFTER_FAILED_CANARY + [entry("1.0", "succeeded", 6), ]
    history[3] = dict(history[3], status="rolled_back", finished_at="2026-01-01T00:00:07.000000Z")
    assert [(e["version"], e["status"]) for e in undone_since(history, "1.0", None)] == [("2.0", "rolled_back")]


def test_a_current_release_rolled_back_itself_is_named_per_host():
    # blue-green: the idle colour still runs the release the first rollback took traffic from
    history = [entry("1.0", "succeeded", 1), entry("2.0", "rolled_back", 2)]
    said = describe_undo({"g1": {"current": "2.0", "target": "1.0", "history": history},
                          "g2": {"current": "2.0", "target": "1.0", "history": history}}, ["g1", "g2"])
    assert said["current_undone"] == {"g1": "2.0 was rolled back at 2026-01-01T00:00:02.500000Z",
                                      "g2": "2.0 was rolled back at 2026-01-01T00:00:02.500000Z"}


def test_hosts_that_agree_share_one_line_and_a_clean_history_says_so():
    history = [entry("1.0", "succeeded", 1), entry("2.0", "succeeded", 2)]
    hosts = ["web%d" % n for n in range(1, 5)]
    said = describe_undo({h: {"current": "2.0", "target": "1.0", "history": history} for h in hosts}, hosts)
    assert said["message"] == "Rolling back: every host (4): removes 2.0, puts back 1.0. No deployment was undone since."


def run_entry(version, status, at, run, restore=False):
    made = dict(entry(version, status, at), run=run)
    return dict(made, restore=True) if restore else made


def test_a_rollback_after_a_limited_deployment_moves_only_the_hosts_of_that_run():
    """4.0 everywhere (run r4), then 5.0 on web1 only (run r5): web1 goes back to 4.0, the others stay."""
    fleet = [run_entry("3.0", "succeeded", 1, "r3"), run_entry("4.0", "succeeded", 2, "r4")]
    states = {"web1": {"current": "5.0", "target": "4.0", "history": fleet + [run_entry("5.0", "succeeded", 3, "r5")]},
              "web2": {"current": "4.0", "target": "3.0", "history": fleet},
              "web3": {"current": "4.0", "target": "3.0", "history": fleet}}
    said = describe_undo(states, ["web1", "web2", "web3"])
    assert (said["run"], said["hosts"], said["staying"], said["problem"]) == ("r5", ["web1"], ["web2", "web3"], "")
    assert said["message"] == ("Rolling back run r5: web1: removes 5.0, puts back 4.0. It did not change web2, web3: "
                               "they stay on 4.0. No deployment was undone since.")


def test_a_restore_of_a_failed_run_is_not_the_run_a_rollback_undoes():
    """r2 put 2.0 everywhere; r3's canary of 3.0 failed on web1 and put 2.0 back there (a restore entry):
    the rollback undoes r2 on both hosts."""
    base = [run_entry("1.0", "succeeded", 1, "r1"), run_entry("2.0", "succeeded", 2, "r2")]
    canary = base + [run_entry("3.0", "failed", 3, "r3"), run_entry("2.0", "succeeded", 4, "r3", restore=True)]
    assert rollback_target(canary, "2.0", ["1.0", "2.0"]) == "1.0"
    said = describe_undo({"web1": {"current": "2.0", "target": "1.0", "history": canary},
                          "web2": {"current": "2.0", "target": "1.0", "history": base}}, ["web1", "web2"])
    assert (said["run"], said["hosts"], said["problem"]) == ("r2", ["web1", "web2"], "")


def test_hosts_that_would_end_on_different_releases_are_refused_listing_each_host():
    states = {"web1": {"current": "5.0", "target": "4.0", "history": [run_entry("4.0", "succeeded", 1, "r4"),
                                                                      run_entry("5.0", "succeeded", 3, "r5")]},
              "web2": {"current": "3.5", "target": "3.0", "history": [run_entry("3.5", "succeeded", 2, "r35")]}}
    said = describe_undo(states, ["web1", "web2"])
    assert said["hosts"] == ["web1"]
    assert said["problem"].startswith("A rollback of run r5 would leave the hosts on different releases, so nothing "
                                      "was changed.")
    assert "web1: 5.0 -> 4.0 (history: 4.0 succeeded, 5.0 succeeded); web2: 3.5 stays (history: 3.5 succeeded)" \
        in said["problem"]


def test_histories_without_run_ids_move_every_host():
    history = [entry("1.0", "succeeded", 1), entry("2.0", "succeeded", 2)]
    said = describe_undo({h: {"current": "2.0", "target": "1.0", "history": history} for h in ("a", "b")}, ["a", "b"])
    assert (said["run"], said["hosts"], said["staying"]) == (None, ["a", "b"], [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["1.0", "2.0", "3.0", "4.0"]),
                                   st.sampled_from(["succeeded", "failed", "rolled_back", "pending"]),
                                   st.sampled_from(["r1", "r2", "r3", None]), st.booleans()),
                         max_size=6), min_size=1, max_size=5))
def test_a_rollback_moves_one_run_s_hosts_and_never_splits_the_fleet(histories):
    """Whatever the histories: the hosts moved are the run's and those on the same pair of releases, every
    other host stays, and a plan without a problem ends every host on one release."""
    states, order = {}, []
    for number, steps in enumerate(histories):
        history = []
        for at, (version, status, run, restore) in enumerate(steps):
            made = dict(entry(version, status, at + 1 + number), **({"run": run} if run else {}))
            history.append(dict(made, restore=True) if restore else made)
        current = history[-1]["version"] if history else None
        host = "web%d" % number
        order.append(host)
        states[host] = {"current": current, "history": history,
                        "target": rollback_target(history, current, ["1.0", "2.0", "3.0", "4.0"])}
    plan = run_to_undo(states, order)
    assert sorted(plan["hosts"] + plan["staying"]) == sorted(order)
    if plan["run"] is None:
        assert plan["hosts"] == order
    if plan["run"] is not None:
        of_run = [h for h in plan["hosts"]
                  if states[h]["history"][deployment_index(states[h]["history"], states[h]["current"])].get("run") == plan["run"]]
        assert of_run
        pairs = {(states[h]["current"], states[h]["target"]) for h in of_run}
        # the others moved share a release and a release before it with a host of the run
        assert all((states[h]["current"], states[h]["target"]) in pairs for h in plan["hosts"])
        assert all((states[h]["current"], states[h]["target"]) not in pairs for h in plan["staying"])
    if not plan["problem"] and all(states[host]["target"] for host in plan["hosts"]):
        ends = {states[h]["target"] if h in plan["hosts"] else states[h]["current"] for h in order}
        assert len(ends) == 1, (plan, states)


def test_hosts_an_earlier_run_put_on_the_same_release_go_back_with_the_run():
    """2.0 with --limit web1 (run r1), then 2.0 everywhere (run r2 switched only web2): both go back to 1.0."""
    base = [run_entry("1.0", "succeeded", 1, "r0")]
    states = {"web1": {"current": "2.0", "target": "1.0", "history": base + [run_entry("2.0", "succeeded", 2, "r1")]},
              "web2": {"current": "2.0", "target": "1.0", "history": base + [run_entry("2.0", "succeeded", 3, "r2")]}}
    said = describe_undo(states, ["web1", "web2"])
    assert (said["run"], said["hosts"], said["staying"], said["problem"]) == ("r2", ["web1", "web2"], [], "")
