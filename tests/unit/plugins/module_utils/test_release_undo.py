# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rollback says it undoes, before it changes anything."""

from __future__ import annotations

from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import rollback_target, undone_since
from ansible_collections.lastmile.deploy.plugins.module_utils.release.undo import describe_undo


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
