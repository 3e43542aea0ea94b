# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run ended as, judged from the hosts' own answers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.run.outcome import FAILED, ROLLED_BACK, SUCCEEDED, HostEnd, judge


def on(release, status="succeeded", **extra):
    return HostEnd(release=release, status=status, **extra)


def test_every_host_on_one_recorded_release_succeeded():
    result = judge({"w1": on("2.0"), "w2": on("2.0")}, failed=False)
    assert (result.outcome, result.problems) == (SUCCEEDED, [])
    assert result.releases == {"w1": "2.0 (succeeded)", "w2": "2.0 (succeeded)"}


def test_a_host_the_run_did_not_switch_keeps_whatever_record_it_had():
    """A colour put in place by hand has no record: the run that did not touch it cannot be blamed for it."""
    hosts = {"b1": on("1.0", None, switched=False), "g1": on("2.0")}
    assert judge(hosts, failed=False, groups={"blue": ["b1"], "green": ["g1"]}).outcome == SUCCEEDED
    hosts["g1"] = on("2.0", "pending")
    assert judge(hosts, failed=False, groups={"blue": ["b1"], "green": ["g1"]}).problems == [
        "not on a verified release: g1 2.0 (pending)"]


def test_hosts_left_on_different_releases_failed_whatever_each_task_said():
    result = judge({"w1": on("1.0"), "w2": on("1.1"), "w3": on("1.1")}, failed=False)
    assert result.outcome == FAILED
    assert result.problems == ["the hosts are on different releases: 1.0, 1.1"]
    assert result.releases == {"w1": "1.0 (succeeded)", "w2": "1.1 (succeeded)", "w3": "1.1 (succeeded)"}


def test_a_release_left_pending_or_a_host_that_cannot_be_read_is_no_success():
    assert judge({"w1": on("2.0"), "w2": on("2.0", "pending")}, failed=False).problems == [
        "not on a verified release: w2 2.0 (pending)"]
    assert judge({"w1": on("2.0", None), "w2": on("2.0", "failed")}, failed=False).problems == [
        "not on a verified release: w1 2.0 (not recorded), w2 2.0 (failed)"]
    result = judge({"w1": on("2.0"), "w2": HostEnd(None, readable=False)}, failed=False)
    assert result.outcome == FAILED and result.problems == ["w2 could not be read"]
    assert result.releases["w2"] == "unknown (could not be read)"


def test_a_complete_restore_is_rolled_back():
    hosts = {"w1": on("1.0", before="1.0", failure="w1: verify: 503"), "w2": on("1.0", before="1.0")}
    assert judge(hosts, failed=True, restored=True).outcome == ROLLED_BACK


def test_a_restore_with_problems_or_a_host_not_back_failed():
    hosts = {"w1": on("1.0", before="1.0", failure="w1: verify: 503", restore_failure="w1: verify: 503 again"),
             "w2": on("1.0", before="1.0")}
    result = judge(hosts, failed=True, restored=True)
    assert result.outcome == FAILED and result.problems == ["w1: w1: verify: 503 again"]
    hosts = {"w1": on("2.0", "failed", before="1.0"), "w2": on("1.0", before="1.0")}
    assert judge(hosts, failed=True, restored=True).problems == ["w1 is on 2.0 (failed), not back on 1.0"]


def test_a_failure_before_any_change_failed_without_restore():
    result = judge({"w1": on("1.0", before="1.0")}, failed=True, restored=False)
    assert (result.outcome, result.problems) == (FAILED, [])


def test_groups_are_judged_one_by_one():
    hosts = {"b1": on("1.0"), "b2": on("1.0"), "g1": on("2.0", "rolled_back"), "g2": on("2.0", "rolled_back")}
    groups = {"blue": ["b1", "b2"], "green": ["g1", "g2"]}
    # after a blue-green rollback the idle colour ends on the release it rolled back from
    assert judge(hosts, failed=False, groups=groups).outcome == SUCCEEDED
    hosts["g2"] = on("1.0")
    assert judge(hosts, failed=False, groups=groups).problems == ["the hosts in green are on different releases: 1.0, 2.0"]


RELEASES = st.sampled_from(["1.0", "1.1", None])


@given(st.dictionaries(st.sampled_from(["w1", "w2", "w3", "w4"]), st.tuples(RELEASES, RELEASES, st.booleans()), min_size=1),
       st.booleans(), st.booleans())
def test_outcome_is_one_of_three_and_success_means_one_recorded_release(ends, failed, restored):
    hosts = {name: on(release, before=before, readable=readable) for name, (release, before, readable) in ends.items()}
    result = judge(hosts, failed=failed, restored=restored)
    assert result.outcome in (SUCCEEDED, ROLLED_BACK, FAILED)
    readable = [end for end in hosts.values() if end.readable]
    if result.outcome == SUCCEEDED:
        assert not failed and len(readable) == len(hosts) and len({end.release for end in readable}) == 1
    if result.outcome == ROLLED_BACK:
        assert failed and restored and all(end.readable and end.release == end.before for end in hosts.values())
    if not failed and len(readable) == len(hosts) and len({end.release for end in readable}) == 1:
        assert result.outcome == SUCCEEDED
