# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hosts a dead run switched and never finished deploying, found in each host's release state."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.run.dead_run import recovery, unverified

HOLDER = {"holder": {"user": "deploy", "pid": 7}}


def state(current, status, previous=None, restore=False):
    entry = {"version": current, "status": status}
    if restore:
        entry["restore"] = True
    history = [{"version": "v1", "status": "succeeded"}, entry]
    return {"current": current, "current_status": status, "previous": previous, "history": history}


def test_a_pending_switch_is_a_dead_runs_unless_it_put_an_earlier_release_back():
    assert unverified(state("v2", "pending", "v1"))
    assert not unverified(state("v2", "succeeded", "v1"))
    assert not unverified(state("v1", "pending", restore=True))
    assert not unverified(None) and not unverified({})
    # a pending current release without any entry of its own is still a dead run's
    assert unverified({"current": "v3", "current_status": "pending", "history": []})


def test_only_hosts_under_this_runs_lock_are_put_back_and_named_in_play_order():
    states = {"web2": state("v8", "pending", "v7"), "web1": state("v8", "pending"), "web3": state("v7", "succeeded"),
              "web4": state("v8", "pending", "v7")}
    locks = {"web1": HOLDER, "web2": HOLDER, "web3": HOLDER, "web4": {"msg": "unreachable"}}
    found = recovery(states, locks)
    assert found["unverified"] == ["web2", "web1", "web4"]
    # web1 has nothing to go back to, web4 is not under this run's lock
    assert found["hosts"] == ["web2"]
    assert found["message"] == ("A dead run left hosts on a release it never finished deploying: web2: v8 -> v7, "
                                "web1: v8 -> no earlier release (kept out of rotation); put back before this run "
                                "changed anything else.")


def test_check_mode_says_what_a_run_would_do_and_no_dead_run_says_nothing():
    found = recovery({"web1": state("v8", "pending", "v7")}, {"web1": HOLDER}, check_mode=True)
    assert found["message"].endswith("web1: v8 -> v7; a run would put them back before it changed anything else.")
    assert recovery({"web1": state("v7", "succeeded")}, {"web1": HOLDER}) == {"unverified": [], "hosts": [], "message": ""}
