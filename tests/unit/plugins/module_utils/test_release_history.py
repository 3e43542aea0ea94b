# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switching ``current``, the release history, the rollback target and pruning."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release import root as _release
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import (
    ReleaseError,
    ReleaseRoot,
    current_release,
    mark,
    previous_release,
    prune,
    releases,
    remove_release,
    switch_current,
    unpack,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import (
    HistoryError,
    rollback_target,
    save_history,
    state_path,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible


@pytest.fixture
def archive(tmp_path):
    path = str(tmp_path / "app.tgz")
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("app.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    return path


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "app")


def deploy(root, archive, version, outcome="succeeded"):
    """What a deployment does on one host: unpack, switch, record."""
    unpack(root, version, archive)
    switch_current(root, version)
    if outcome:
        mark(root, version, outcome)


def statuses(root):
    return [(e["version"], e["status"]) for e in json.load(open(state_path(root)))["history"]]


def test_switch_is_a_relative_link_and_records_pending(root, archive):
    unpack(root, "1", archive)
    result = switch_current(root, "1")
    assert result == {"changed": True, "before": {"current": None}, "after": {"current": "1"}}
    assert os.readlink(os.path.join(root, "current")) == "releases/1"
    assert open(os.path.join(root, "current", "app.txt")).read() == "ok"
    entry = json.load(open(state_path(root)))["history"][0]
    assert entry["version"] == "1" and entry["status"] == "pending" and entry["finished_at"] is None
    assert entry["switched_at"].endswith("Z")
    assert sorted(os.listdir(root)) == [".lastmile", "current", "releases"]  # no temp link left


def test_switch_again_changes_nothing(root, archive):
    deploy(root, archive, "1")
    before = open(state_path(root)).read()
    assert switch_current(root, "1")["changed"] is False
    assert open(state_path(root)).read() == before


def test_switch_replaces_the_link_atomically(root, archive, monkeypatch):
    deploy(root, archive, "1")
    unpack(root, "2", archive)
    replaced = []
    real_replace = os.replace

    def watch(src, dst, **dir_fds):
        if not dir_fds and os.path.islink(src):
            replaced.append((os.path.basename(src), os.path.basename(dst), os.readlink(src)))
        return real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(_release.os, "replace", watch)
    switch_current(root, "2")
    link_moves = [r for r in replaced if r[1] == "current"]
    assert len(link_moves) == 1 and link_moves[0][0].startswith("current.tmp-")
    assert link_moves[0][2] == "releases/2"
    assert current_release(root) == "2"


def test_switch_refuses_missing_release_and_non_link_current(root, archive):
    with pytest.raises(ReleaseError, match=r"release '9' is not unpacked: expected a directory .*releases/9"):
        switch_current(root, "9")
    unpack(root, "1", archive)
    os.makedirs(os.path.join(root, "current"))
    with pytest.raises(ReleaseError, match=r"app/current exists and is not a symlink"):
        switch_current(root, "1")


def test_previous_skips_failed_and_rolled_back_releases(root, archive):
    deploy(root, archive, "v1")
    deploy(root, archive, "v2")
    assert previous_release(root) == "v1"
    deploy(root, archive, "v3", outcome="failed")
    assert previous_release(root) == "v2"
    switch_current(root, "v2")  # the rollback re-links v2
    mark(root, "v3", "rolled_back")
    assert current_release(root) == "v2"
    assert previous_release(root) == "v1"
    mark(root, "v2", "succeeded")
    assert previous_release(root) == "v1"
    assert statuses(root) == [
        ("v1", "succeeded"), ("v2", "succeeded"), ("v3", "rolled_back"), ("v2", "succeeded"),
    ]


def test_previous_is_none_without_an_earlier_success(root, archive):
    deploy(root, archive, "v1", outcome=None)
    assert previous_release(root) is None
    deploy(root, archive, "v2", outcome="failed")
    assert previous_release(root) is None


def test_previous_ignores_releases_that_are_gone(root, archive):
    deploy(root, archive, "v1")
    deploy(root, archive, "v2")
    deploy(root, archive, "v3")
    remove_release(root, "v2")
    assert previous_release(root) == "v1"


def test_rollback_target_rules_on_plain_history():
    h = [
        {"version": "a", "status": "succeeded"},
        {"version": "b", "status": "succeeded"},
        {"version": "b", "status": "failed"},  # b's newest word is failure
        {"version": "c", "status": "pending"},
    ]
    assert rollback_target(h, "c", ["a", "b", "c"]) == "a"
    # entries after the current release's newest entry are not history of it
    assert rollback_target(h, "a", ["a", "b", "c"]) is None
    # a current release without entries (linked by another tool): everything counts
    assert rollback_target(h, "z", ["a", "b", "z"]) == "a"


def test_undone_release_is_not_a_target_after_going_back(root, archive):
    deploy(root, archive, "v1")
    deploy(root, archive, "v2")
    switch_current(root, "v1")
    assert previous_release(root) == "v2"  # until the rollback records v2 as undone
    mark(root, "v2", "rolled_back")
    assert previous_release(root) is None


def test_mark_is_idempotent_and_only_the_current_release_succeeds(root, archive):
    deploy(root, archive, "v1", outcome=None)
    assert mark(root, "v1", "succeeded") == {
        "changed": True, "before": {"status": "pending"}, "after": {"status": "succeeded"},
    }
    assert mark(root, "v1", "succeeded")["changed"] is False
    unpack(root, "v2", archive)
    with pytest.raises(ReleaseError, match="cannot record release 'v2' as succeeded: the current release is 'v1'"):
        mark(root, "v2", "succeeded")
    with pytest.raises(ReleaseError, match="status 'done' is not valid"):
        mark(root, "v1", "done")
    assert mark(root, "v2", "failed")["changed"] is True
    assert statuses(root) == [("v1", "succeeded"), ("v2", "failed")]


def test_corrupt_state_file_is_reported(root, archive):
    deploy(root, archive, "v1")
    with open(state_path(root), "w") as handle:
        handle.write("{not json")
    with pytest.raises(ReleaseError, match=r"cannot read release history .*state.json"):
        previous_release(root)


def test_state_file_is_written_through_a_temp_file(root, archive, monkeypatch):
    deploy(root, archive, "v1", outcome=None)
    before = open(state_path(root)).read()
    from ansible_collections.lastmile.deploy.plugins.module_utils.release import history as _release_history

    def broken_dump(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_release_history.json, "dump", broken_dump)
    with pytest.raises(ReleaseError, match="No space left on device"):
        mark(root, "v1", "succeeded")
    assert open(state_path(root)).read() == before
    assert os.listdir(os.path.dirname(state_path(root))) == ["state.json"]


def test_remove_refuses_the_current_release(root, archive):
    deploy(root, archive, "v1")
    with pytest.raises(ReleaseError, match="refusing to remove release 'v1': it is the current release"):
        remove_release(root, "v1")
    assert remove_release(root, "v9")["changed"] is False


def test_prune_keeps_current_previous_and_pending(root, archive):
    for version in ("v1", "v2", "v3", "v4", "v5"):
        deploy(root, archive, version)
    deploy(root, archive, "v6", outcome="failed")
    switch_current(root, "v5")  # back to v5 after v6 failed; v5 is pending again
    mark(root, "v6", "rolled_back")
    assert previous_release(root) == "v4"
    # v6, which can never be a rollback target, goes first
    assert prune(root, 2, check_mode=True) == ["v6", "v1", "v2", "v3"]
    assert len(releases(root)) == 6
    assert prune(root, 2) == ["v6", "v1", "v2", "v3"]
    assert releases(root) == ["v4", "v5"]
    assert prune(root, 2) == []


def test_prune_never_removes_an_old_current_or_its_target(root, archive):
    for version in ("v1", "v2", "v3", "v4"):
        deploy(root, archive, version)
    switch_current(root, "v1")  # far rollback: v1 pending again
    mark(root, "v1", "succeeded")
    for version in ("v2", "v3", "v4"):
        mark(root, version, "rolled_back")
    unpack(root, "v0-pending", archive)
    tree = ReleaseRoot(root)
    tree.history.append({"version": "v0-pending", "status": "pending", "switched_at": None, "finished_at": None})
    assert tree.prune(1) == ["v2", "v3", "v4"]
    assert tree.releases == ["v1", "v0-pending"]


def test_prune_removes_releases_that_can_never_be_rollback_targets_first(root, archive):
    deploy(root, archive, "v1")
    deploy(root, archive, "v2")
    deploy(root, archive, "v3bad", outcome="failed")
    switch_current(root, "v2")
    mark(root, "v2", "succeeded")
    deploy(root, archive, "v4")
    assert releases(root) == ["v1", "v2", "v3bad", "v4"]
    # keep 3: the failed v3bad goes, not the older but good v1
    assert prune(root, 3) == ["v3bad"]
    assert releases(root) == ["v1", "v2", "v4"]


def test_prune_zero_keeps_everything(root, archive):
    for version in ("v1", "v2", "v3"):
        deploy(root, archive, version)
    assert prune(root, 0) == []
    assert len(releases(root)) == 3
    with pytest.raises(ReleaseError, match="keep_releases is -1"):
        prune(root, -1)


def test_missing_root_reads_as_empty(tmp_path):
    tree = ReleaseRoot(str(tmp_path / "nothing"))
    assert tree.summary() == {
        "current": None, "previous": None, "releases": [], "history": [], "current_status": None, "checksums": {},
    }


# The deploy root may belong to the application's user while runs are root: a link it plants in
# place of .lastmile or state.json is never followed.

def files_under(top):
    return {os.path.join(directory, name): os.lstat(os.path.join(directory, name)).st_mtime_ns
            for directory, dirs, files in os.walk(str(top)) for name in dirs + files}


@pytest.fixture
def outside(tmp_path):
    """A directory beside the deploy root that writing the history may not touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("TOPSECRET\n")
    return path


def test_the_history_is_never_written_through_a_link_in_place_of_its_directory(root, outside):
    os.makedirs(root)
    os.symlink(str(outside), os.path.join(root, ".lastmile"))
    before = files_under(outside)
    with pytest.raises(HistoryError) as caught:
        save_history(root, [])
    assert str(caught.value) == ("cannot write release history: %s/.lastmile is a symbolic link to %s, expected a directory"
                                 % (root, outside))
    assert files_under(outside) == before


def test_switching_with_a_link_in_place_of_the_state_directory_is_refused_and_nothing_outside_changes(root, archive, outside):
    unpack(root, "1", archive)
    os.symlink(str(outside), os.path.join(root, ".lastmile"))
    before = files_under(outside)
    rc, result = run_ansible("release", {"root": root, "version": "1", "state": "current"})
    assert rc != 0
    assert result["msg"] == ("cannot read release history: %s/.lastmile is a symbolic link to %s, expected a directory"
                             % (root, outside)), result
    assert not os.path.lexists(os.path.join(root, "current"))
    assert files_under(outside) == before


def test_a_state_file_that_is_a_link_is_not_read_through(root, archive, outside):
    deploy(root, archive, "1")
    (outside / "state.json").write_text(json.dumps({"history": [{"version": "0", "status": "succeeded"}]}))
    os.unlink(state_path(root))
    os.symlink(str(outside / "state.json"), state_path(root))
    with pytest.raises(ReleaseError) as caught:
        previous_release(root)
    assert str(caught.value) == ("cannot read release history: %s is a symbolic link to %s, expected a regular file"
                                 % (state_path(root), outside / "state.json"))
