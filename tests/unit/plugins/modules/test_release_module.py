# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release and release_info modules: check mode, idempotence, diff, errors."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.lastmile.deploy.plugins.modules import release, release_info
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.archive_builders import tar_gz
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process


def make_archive(path, text):
    return tar_gz(path, {"myapp/app.txt": text.encode(), "myapp/logs/.keep": b""})


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "opt" / "myapp")


@pytest.fixture
def artifacts(tmp_path):
    return {v: make_archive(tmp_path / ("myapp-%s.tgz" % v), "release %s" % v) for v in ("1.0", "2.0", "3.0")}


def snapshot(path):
    if not os.path.exists(path):
        return None
    found = {}
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(directory, name)
            found[os.path.relpath(full, path)] = os.readlink(full) if os.path.islink(full) else os.path.getmtime(full)
    return found


def run(args, capsys, check_mode=False, diff=False):
    if diff:
        args = dict(args, _ansible_diff=True)
    return run_in_process(release.main, args, capsys, check_mode=check_mode)


def deploy_args(root, artifacts, version, **extra):
    return dict(root=root, version=version, src=artifacts[version], strip_components=1,
                shared_paths=["logs"], **extra)


def test_check_mode_then_apply_then_idempotent(root, artifacts, capsys):
    args = deploy_args(root, artifacts, "1.0")
    rc, result = run(args, capsys, check_mode=True)
    assert rc == 0, result
    assert result["changed"] is True and result["current"] == "1.0" and result["releases"] == ["1.0"]
    assert not os.path.exists(root)

    rc, result = run(args, capsys)
    assert rc == 0 and result["changed"] is True, result
    assert os.readlink(os.path.join(root, "current")) == "releases/1.0"
    assert open(os.path.join(root, "current", "app.txt")).read() == "release 1.0"
    assert result["release_path"] == os.path.join(root, "releases", "1.0")
    assert [e["status"] for e in result["history"]] == ["pending"]

    before = snapshot(root)
    for check_mode in (True, False):
        rc, result = run(args, capsys, check_mode=check_mode)
        assert rc == 0 and result["changed"] is False, result
    assert snapshot(root) == before


def test_diff_shows_the_link_switch(root, artifacts, capsys):
    run(deploy_args(root, artifacts, "1.0"), capsys)
    run(dict(root=root, version="1.0", state="succeeded"), capsys)
    rc, result = run(deploy_args(root, artifacts, "2.0"), capsys, check_mode=True, diff=True)
    assert rc == 0
    assert result["diff"]["before"]["current"] == "1.0" and result["diff"]["after"]["current"] == "2.0"
    assert result["diff"]["before"]["release"] == "absent" and result["diff"]["after"]["release"] == "present"
    assert result["previous"] == "1.0"
    assert os.readlink(os.path.join(root, "current")) == "releases/1.0"


def test_full_cycle_previous_failed_rollback_and_prune(root, artifacts, capsys):
    for version in ("1.0", "2.0"):
        run(deploy_args(root, artifacts, version), capsys)
        rc, result = run(dict(root=root, version=version, state="succeeded"), capsys)
        assert rc == 0 and result["changed"] is True
    run(deploy_args(root, artifacts, "3.0"), capsys)
    rc, result = run(dict(root=root, version="3.0", state="failed"), capsys)
    assert result["changed"] and result["previous"] == "2.0"
    run(dict(root=root, version="2.0"), capsys)  # back to 2.0: no src needed
    rc, result = run(dict(root=root, version="3.0", state="rolled_back"), capsys)
    assert result["current"] == "2.0" and result["previous"] == "1.0"
    rc, result = run(dict(root=root, version="2.0", state="succeeded", keep_releases=2), capsys)
    assert rc == 0 and result["removed"] == ["3.0"] and result["releases"] == ["1.0", "2.0"]

    rc, info = run_in_process(release_info.main, dict(root=root), capsys)
    assert rc == 0 and info["changed"] is False
    assert (info["current"], info["previous"], info["current_status"]) == ("2.0", "1.0", "succeeded")
    assert [(e["version"], e["status"]) for e in info["history"]] == [
        ("1.0", "succeeded"), ("2.0", "succeeded"), ("3.0", "rolled_back"), ("2.0", "succeeded"),
    ]
    # what each release was unpacked from: the deploy playbook refuses the same id from other bytes
    assert info["checksums"] == {v: "sha256:" + hashlib.sha256(open(artifacts[v], "rb").read()).hexdigest()
                                 for v in ("1.0", "2.0")}


def test_absent_removes_a_release_but_refuses_the_current_one(root, artifacts, capsys):
    run(deploy_args(root, artifacts, "1.0"), capsys)
    run(deploy_args(root, artifacts, "2.0", state="present"), capsys)
    rc, result = run(dict(root=root, version="2.0", state="absent"), capsys, check_mode=True, diff=True)
    assert result["changed"] and result["diff"]["after"]["release"] == "absent"
    assert os.path.isdir(os.path.join(root, "releases", "2.0"))
    rc, result = run(dict(root=root, version="2.0", state="absent"), capsys)
    assert rc == 0 and result["removed"] == ["2.0"] and result["releases"] == ["1.0"]
    rc, result = run(dict(root=root, version="1.0", state="absent"), capsys)
    assert rc == 1 and result["msg"] == "refusing to remove release '1.0': it is the current release"


def test_bad_version_id_fails_naming_it(root, capsys):
    rc, result = run(dict(root=root, version="../etc", state="present"), capsys)
    assert rc == 1
    assert result["msg"].startswith("release id '../etc' is invalid: expected letters, digits")
    assert not os.path.exists(root)


def test_checksum_mismatch_fails_and_changes_nothing(root, artifacts, capsys):
    wrong = "sha256:" + "ab" * 32
    rc, result = run(deploy_args(root, artifacts, "1.0", checksum=wrong), capsys)
    assert rc == 1 and wrong in result["msg"] and "checksum mismatch" in result["msg"]
    assert not os.path.exists(root)


def test_negative_numbers_are_refused(root, capsys):
    rc, result = run(dict(root=root, version="1.0", keep_releases=-1), capsys)
    assert rc == 1 and result["msg"] == "keep_releases is -1: expected 0 or more"


def test_release_info_on_missing_root(tmp_path, capsys):
    rc, info = run_in_process(release_info.main, dict(root=str(tmp_path / "none")), capsys)
    assert rc == 0
    assert (info["current"], info["previous"], info["releases"], info["history"], info["current_status"]) == (
        None, None, [], [], None,
    )


def test_through_the_ansible_cli(root, artifacts):
    args = deploy_args(root, artifacts, "1.0")
    rc, result = run_ansible("release", args, check_mode=True)
    assert rc == 0 and result["changed"] is True, result
    assert not os.path.exists(root)
    rc, result = run_ansible("release", args)
    assert rc == 0 and result["changed"] is True, result
    rc, result = run_ansible("release", args)
    assert rc == 0 and result["changed"] is False, result
    rc, result = run_ansible("release", dict(root=root, version="bad/id"))
    assert rc != 0 and "release id 'bad/id' is invalid" in result["msg"]
    rc, info = run_ansible("release_info", dict(root=root))
    assert rc == 0 and info["current"] == "1.0" and info["current_status"] == "pending"
