# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy_lock module: the release state it reads with the lock, and what it does without."""

from __future__ import annotations

import os

from ansible_collections.lastmile.deploy.plugins.modules import deploy_lock, release_info
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_in_process

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
    assert set(taken["releases_state"]) == {"current", "current_status", "previous", "releases", "history"}
    assert taken["holder"]["pid"] == 4242


def test_no_reading_unless_asked_or_when_giving_back(tmp_path, capsys):
    root = str(tmp_path / "app")
    seed_release(root, "1.0")
    rc, taken = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER}, capsys)
    assert rc == 0 and "releases_state" not in taken
    rc, given = run_in_process(deploy_lock.main, {"root": root, "holder": HOLDER, "state": "absent",
                                                  "read_releases": True}, capsys)
    assert rc == 0 and "releases_state" not in given
    assert not os.path.exists(os.path.join(root, ".lastmile", "lock.json"))


def test_a_broken_release_layout_still_takes_the_lock_and_leaves_the_reading_out(tmp_path, capsys):
    root = tmp_path / "app"
    root.mkdir()
    (root / "current").write_text("not a link")
    rc, result = run_in_process(deploy_lock.main, {"root": str(root), "holder": HOLDER, "read_releases": True}, capsys)
    assert rc == 0, result
    assert "releases_state" not in result
    assert result["holder"]["pid"] == 4242
