# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy_lock module: the release state it reads with the lock, and what it does without."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.capacity import figures as _capacity
from ansible_collections.lastmile.deploy.plugins.module_utils.lock.deployment_lock import holder_id, lock_path, read_holder
from ansible_collections.lastmile.deploy.plugins.modules import deploy_lock, host_capacity, release, release_info
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

HOLDER = {"user": "alice", "controller": "ctl1", "pid": 4242, "pid_start": 1}


def seed_release(root, version):
    os.makedirs(os.path.join(root, "releases", version))
    os.symlink(os.path.join("releases", version), os.path.join(root, "current"))


def test_taking_the_lock_reads_what_release_info_reads(tmp_path, capsys):
    root = str(tmp_path / "app")
    seed_release(root, "1.4.1")
    rc, expected = run_in_process(release_info.main, {"root": root}, capsys)
    assert rc == 0
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "read_releases": True}, capsys)
    assert rc == 0, taken
    assert taken["releases_state"] == {key: expected[key] for key in taken["releases_state"]}
    assert taken["releases_state"]["current"] == "1.4.1"
    assert set(taken["releases_state"]) == {"current", "current_status", "previous", "releases", "checksums", "history"}
    assert taken["holder"]["pid"] == 4242


def test_no_reading_unless_asked_and_giving_back_reads_what_the_host_ends_on(tmp_path, capsys):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER}, capsys)
    assert rc == 0 and "releases_state" not in taken
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent"}, capsys)
    assert rc == 0 and "releases_state" not in given
    take(root, capsys)
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent",
                                                  "read_releases": True}, capsys)
    assert rc == 0 and given["releases_state"]["current"] == "1.0", given
    assert not os.path.exists(os.path.join(root, ".lastmile", "lock.json"))


def test_a_broken_release_layout_still_takes_the_lock_and_leaves_the_reading_out(tmp_path, capsys):
    root = tmp_path / "app"
    root.mkdir()
    (root / "current").write_text("not a link")
    rc, result = run_in_process(deploy_lock.main, {"root": str(root), "holder": HOLDER, "read_releases": True}, capsys)
    assert rc == 0, result
    assert "releases_state" not in result
    assert result["holder"]["pid"] == 4242


def take(root, capsys):
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER}, capsys)
    assert rc == 0, taken


def test_giving_back_records_the_outcome_like_the_release_module(tmp_path, capsys):
    root = str(tmp_path / "app")
    os.makedirs(os.path.join(root, "releases", "1.0"))
    rc, switched = run_in_process(release.main, {"root": root, "version": "1.0", "state": "current"}, capsys)
    assert rc == 0 and switched["history"][-1]["status"] == "pending", switched
    take(root, capsys)
    record = {"release": "1.0", "outcome": "succeeded", "keep_releases": 5}
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent", "record": record},
                               capsys, check_mode=True)
    assert rc == 0 and given["recorded"] is True
    rc, info = run_in_process(release_info.main, {"root": root}, capsys)
    assert info["current_status"] == "pending", "check mode recorded the outcome"
    assert os.path.exists(os.path.join(root, ".lastmile", "lock.json")), "check mode gave the lock back"

    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent", "record": record}, capsys)
    assert rc == 0, given
    assert given["recorded"] is True and given["changed"] is True and given["removed"] == []
    rc, info = run_in_process(release_info.main, {"root": root}, capsys)
    assert info["current_status"] == "succeeded"
    take(root, capsys)
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent", "record": record,
                                                  "read_releases": True}, capsys)
    assert rc == 0 and given["releases_state"]["current_status"] == "succeeded", given
    assert not os.path.exists(os.path.join(root, ".lastmile", "lock.json"))


def test_a_record_that_cannot_be_made_still_gives_the_lock_back_and_fails_naming_it(tmp_path, capsys):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")
    take(root, capsys)
    record = {"release": "2.0", "outcome": "succeeded"}
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent", "record": record}, capsys)
    assert rc == 1
    assert given["msg"].startswith("the lock was given back, but the outcome was not recorded: ")
    assert "'2.0'" in given["msg"] and "'1.0'" in given["msg"], given["msg"]
    assert not os.path.exists(os.path.join(root, ".lastmile", "lock.json"))


def test_a_bad_outcome_is_refused_naming_the_choices(tmp_path, capsys):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")
    take(root, capsys)
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent",
                                                  "record": {"release": "1.0", "outcome": "great"}}, capsys)
    assert rc == 1
    assert "great" in given["msg"] and "succeeded, failed, rolled_back" in given["msg"], given["msg"]
    assert os.path.exists(os.path.join(root, ".lastmile", "lock.json")), "a refused call changed the lock"


def test_taking_the_lock_measures_capacity_and_host_capacity_judges_the_figures(tmp_path, capsys):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER,
                                                  "read_capacity": {"path": root, "cpu_sample_seconds": 0.05}}, capsys)
    assert rc == 0, taken
    figures = taken["capacity"]
    assert figures["path"] == root and figures["cpu_sample_seconds"] == 0.05
    assert 0 < figures["disk_free_percent"] <= 100 and 0 <= figures["memory_used_percent"] <= 100
    assert len(figures["load_average"]) == 3 and "failures" not in figures
    # the same figures judged by host_capacity: against thresholds they meet, and one they cannot
    rc, judged = run_in_process(host_capacity.main, {"figures": figures, "max_cpu_percent": 100,
                                                     "min_disk_free_percent": 0, "max_memory_percent": 100}, capsys)
    assert rc == 0 and judged["failures"] == [] and judged["disk_free_percent"] == figures["disk_free_percent"], judged
    rc, judged = run_in_process(host_capacity.main, {"figures": figures, "max_cpu_percent": 100,
                                                     "min_disk_free_percent": 100, "max_memory_percent": 100}, capsys)
    assert rc == 1 and judged["msg"].startswith("not enough capacity: disk free on %s is " % root), judged
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent",
                                                  "read_capacity": {"path": root}}, capsys)
    assert rc == 0 and "capacity" not in given


def test_capacity_that_cannot_be_read_leaves_the_lock_taken_and_says_why(tmp_path, capsys, monkeypatch):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")

    def unreadable(path, sample_seconds):
        return _capacity.read_capacity(path, sample_seconds, meminfo_path=str(tmp_path / "no-meminfo"))

    monkeypatch.setattr(deploy_lock, "read_capacity_figures", unreadable)
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER,
                                                  "read_capacity": {"path": root, "cpu_sample_seconds": 0.01}}, capsys)
    assert rc == 0, taken
    assert "capacity" not in taken and "no-meminfo" in taken["capacity_error"]
    assert taken["holder"]["pid"] == 4242 and os.path.exists(taken["path"])


def tree(root):
    """Every path under ``root`` (itself included) with what a change would alter."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for path in [directory] + [os.path.join(directory, name) for name in dirs + files]:
            status = os.lstat(path)
            found[os.path.relpath(path, root)] = (status.st_mode, status.st_size, status.st_mtime_ns)
    return found


@pytest.mark.parametrize("seconds", ["nan", "inf", "-1", "1e300"])
def test_a_cpu_sample_time_that_cannot_be_waited_is_refused_before_the_lock(tmp_path, seconds):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")
    before = tree(root)
    rc, result = run_ansible("deploy_lock", {"root": root, "read_capacity": {"path": root, "cpu_sample_seconds": seconds}})
    assert rc != 0
    assert result["msg"] == ("read_capacity.cpu_sample_seconds must be a number of seconds greater than 0 and at most 60, "
                             "got %r; nothing was changed" % float(seconds)), result
    assert not os.path.exists(os.path.join(root, ".lastmile", "lock.json"))
    assert tree(root) == before


@pytest.mark.parametrize("seconds", [float("nan"), float("-inf"), -0.5, 0.0, 60.5, 3600.0])
def test_a_bad_cpu_sample_time_changes_nothing_even_in_a_fresh_root(tmp_path, capsys, seconds):
    root = str(tmp_path / "app")
    rc, result = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER,
                                                   "read_capacity": {"path": str(tmp_path), "cpu_sample_seconds": seconds}},
                                capsys)
    assert rc == 1 and ("got %r;" % seconds) in result["msg"], result
    assert os.listdir(str(tmp_path)) == []


def test_the_lock_of_a_named_run_is_broken_and_another_run_is_named(tmp_path, capsys):
    root = str(tmp_path / "app")
    dead = dict(HOLDER, pid=1111)
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": dead}, capsys)
    assert rc == 0 and taken["holder_id"] == holder_id(dead), taken
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "break_holder": taken["holder_id"]}, capsys)
    assert rc == 0 and taken["broken"]["pid"] == 1111 and taken["holder"]["pid"] == 4242, taken
    # a run that saw the same dead holder comes second: refused, naming the run that holds it now
    rc, refused = run_in_process(deploy_lock.main, {"root": root, "holder": dict(HOLDER, pid=5555),
                                                    "break_holder": holder_id(dead)}, capsys)
    assert rc == 1, refused
    assert refused["msg"].startswith("deployment lock %s is held by alice@ctl1 (pid 4242) since " % lock_path(root))
    assert refused["holder"]["pid"] == 4242 and refused["holder_id"] == holder_id(HOLDER)
    assert read_holder(lock_path(root))["pid"] == 4242


def test_a_deploy_root_that_is_a_file_is_named(tmp_path):
    root = tmp_path / "app"
    root.write_text("a file")
    rc, result = run_ansible("deploy_lock", {"root": str(root)})
    assert rc != 0
    assert result["msg"] == "cannot keep the deployment lock in %s/.lastmile: %s exists and is not a directory" % (root, root)
    assert "holder" not in result
    assert root.read_text() == "a file" and os.listdir(str(tmp_path)) == ["app"]
    rc, result = run_ansible("deploy_lock", {"root": str(root), "state": "absent"})
    assert rc == 0 and result["changed"] is False, result


# The deploy root may belong to the application's user while runs are root: what that user plants
# in .lastmile is broken as asked, but never acted on outside the root nor taken over as data.

GHOST = {"user": "app", "controller": "ghost", "pid": 4242, "started": "2026-01-01T00:00:00Z"}
PLANTED_MEMORY = {"lb_before": {"web1": {"admin": "drain", "weight": 0}}}


def planted_lock(tmp_path, how):
    """The lock the application's user plants: it names a directory outside the root and a LB state."""
    root = tmp_path / "app"
    outside = tmp_path / "outside" / "empty"  # stands for /run/sshd, /var/empty, a mount point
    outside.mkdir(parents=True)
    lock = root / ".lastmile" / "lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"holder": GHOST, "created_dirs": [str(outside)], "memory": PLANTED_MEMORY}))
    if how == "owned by the application's user":
        for path in (root, lock.parent, lock):
            os.chown(str(path), 65534, 65534)
        why = "the file is owned by "
    else:
        lock.chmod(0o666)
        why = "the file is writable by users other than its owner (mode 0666)"
    return root, outside, lock, why


@pytest.mark.parametrize("how", [
    pytest.param("owned by the application's user",
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")),
    "writable by others"])
def test_a_planted_lock_is_broken_as_asked_but_hands_over_no_directory_and_no_memory(tmp_path, capsys, how):
    root, outside, lock, why = planted_lock(tmp_path, how)
    rc, refused = run_ansible("deploy_lock", {"root": str(root)})
    assert rc != 0 and refused["holder"] == GHOST and refused["msg"].endswith("break the lock with force=true")
    rc, taken = run_in_process(deploy_lock.main, {"root": str(root), "holder": HOLDER, "force": True}, capsys)
    assert rc == 0 and taken["broken"] == GHOST and taken["holder"]["pid"] == 4242, taken
    rc, given = run_in_process(deploy_lock.main, {"root": str(root), "holder": HOLDER, "state": "absent"}, capsys)
    assert rc == 0 and given["changed"] is True, given
    assert outside.is_dir(), "giving the lock back removed a directory outside the deploy root"
    assert os.listdir(str(root / ".lastmile")) == ["lock.guard"]
    assert taken["inherited"] == {}, "took over what a lock it did not write remembered"
    assert ("the broken deployment lock %s is not trusted, so nothing it remembered is taken over: %s" % (lock, why)
            in json.dumps(taken.get("warnings"))), taken.get("warnings")


def test_a_lock_of_this_user_hands_over_only_well_formed_memory(tmp_path, capsys):
    root = tmp_path / "app"
    lock = root / ".lastmile" / "lock.json"
    lock.parent.mkdir(parents=True)
    kept = {"web1": {"admin": "drain", "weight": 0, "up": True}}
    lock.write_text(json.dumps({"holder": GHOST, "created_dirs": [],
                                "memory": {"lb_before": kept, "extra": {"web2": {"admin": "maint", "weight": 999}}}}))
    lock.chmod(0o600)
    rc, taken = run_in_process(deploy_lock.main, {"root": str(root), "holder": HOLDER, "force": True}, capsys)
    assert rc == 0 and taken["inherited"] == {"lb_before": kept}, taken
    assert ("ignored what the broken deployment lock %s remembered: memory has 'extra', expected only the keys lb_before"
            % lock) in json.dumps(taken.get("warnings")), taken.get("warnings")


@pytest.mark.parametrize("memory, says", [
    ({"lb_before": {"web1": {"admin": "drain", "weight": 999}}},
     "memory.lb_before: web1.weight is 999, expected an integer from 0 to 256; nothing was changed"),
    ({"lb_before": {"web1": {"admin": "gone", "weight": 0}}},
     "memory.lb_before: web1.admin is 'gone', expected one of ready, drain, maint; nothing was changed"),
    ({"notes": "x"}, "memory has 'notes', expected only the keys lb_before; nothing was changed"),
])
def test_memory_a_lock_cannot_keep_is_refused_before_the_lock_is_taken(tmp_path, memory, says):
    root = tmp_path / "app"
    rc, result = run_ansible("deploy_lock", {"root": str(root), "memory": memory})
    assert rc != 0 and result["msg"] == says, result
    assert os.listdir(str(tmp_path)) == []


def outside_files(top):
    return {path: os.lstat(os.path.join(directory, path)).st_mtime_ns
            for directory, dirs, files in os.walk(str(top)) for path in dirs + files}


@pytest.mark.parametrize("planted, says", [
    ("guard", "cannot change the deployment lock: {root}/.lastmile/lock.guard is a symbolic link to "
              "{outside}/created-by-lock, expected a regular file; remove it by hand"),
    ("lock directory", "cannot keep the deployment lock in {root}/.lastmile: {root}/.lastmile is a symbolic link to "
                       "{outside}, expected a directory"),
])
def test_a_link_planted_in_the_lock_directory_is_refused_and_nothing_outside_the_root_is_created(tmp_path, planted, says):
    root, outside = tmp_path / "app", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOPSECRET\n")
    if planted == "guard":
        (root / ".lastmile").mkdir(parents=True)
        os.symlink(str(outside / "created-by-lock"), str(root / ".lastmile" / "lock.guard"))
    else:
        root.mkdir()
        os.symlink(str(outside), str(root / ".lastmile"))
    before = outside_files(outside)
    for check_mode in (True, False):
        rc, result = run_ansible("deploy_lock", {"root": str(root)}, check_mode=check_mode)
        if planted == "guard" and check_mode:
            assert rc == 0, result  # a check run reads the lock and writes nothing, not even the guard
            continue
        assert rc != 0 and result["msg"] == says.format(root=root, outside=outside), result
    assert outside_files(outside) == before
