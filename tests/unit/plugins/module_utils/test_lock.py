# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock: taken once, refused to others with its holder named, broken on request."""

from __future__ import annotations

import json
import os
import threading

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils._lock import (
    LockError,
    LockHeld,
    acquire,
    describe,
    lock_path,
    read_holder,
    release,
    remember,
)

ALICE = {"user": "alice", "controller": "ctl1", "pid": 100, "pid_start": 5, "started": "2026-11-26T10:00:00Z",
         "purpose": "deployment of shop 1.4.2"}
BOB = {"user": "bob", "controller": "ctl2", "pid": 200, "pid_start": 7, "started": "2026-11-26T10:01:00Z"}


def test_taking_a_free_lock_writes_the_holder(tmp_path):
    root = str(tmp_path / "app")
    os.makedirs(root)
    assert acquire(root, ALICE) == (True, None)
    assert read_holder(lock_path(root)) == ALICE
    assert acquire(root, dict(ALICE, started="later")) == (False, None)


def test_a_held_lock_is_refused_naming_the_holder(tmp_path):
    root = str(tmp_path)
    acquire(root, ALICE)
    with pytest.raises(LockHeld) as caught:
        acquire(root, BOB)
    assert caught.value.holder == ALICE
    assert "alice@ctl1 (pid 100) since 2026-11-26T10:00:00Z for deployment of shop 1.4.2" in str(caught.value)
    assert read_holder(lock_path(root)) == ALICE


def test_force_breaks_the_lock_of_another_run(tmp_path):
    root = str(tmp_path)
    acquire(root, ALICE)
    assert acquire(root, BOB, force=True)[1]["holder"] == ALICE
    assert read_holder(lock_path(root)) == BOB


def test_check_mode_writes_nothing_and_still_refuses(tmp_path):
    root = str(tmp_path / "fresh")
    assert acquire(root, ALICE, check_mode=True) == (True, None)
    assert not os.path.exists(root)
    os.makedirs(root)
    acquire(root, ALICE)
    with pytest.raises(LockHeld):
        acquire(root, BOB, check_mode=True)
    assert acquire(root, BOB, force=True, check_mode=True)[1]["holder"] == ALICE
    assert read_holder(lock_path(root)) == ALICE


def test_release_gives_back_only_our_own_lock(tmp_path):
    root = str(tmp_path)
    acquire(root, ALICE)
    assert release(root, BOB) is False
    assert read_holder(lock_path(root)) == ALICE
    assert release(root, ALICE, check_mode=True) is True
    assert read_holder(lock_path(root)) == ALICE
    assert release(root, ALICE) is True
    assert read_holder(lock_path(root)) is None
    assert release(root, ALICE) is False


def test_directories_the_lock_created_go_with_it(tmp_path):
    root = tmp_path / "opt" / "shop"
    acquire(str(root), ALICE)
    assert (root / ".lastmile" / "lock.json").is_file()
    release(str(root), ALICE)
    assert not (tmp_path / "opt").exists()


def test_directories_that_gained_content_stay(tmp_path):
    root = tmp_path / "shop"
    acquire(str(root), ALICE)
    (root / "releases").mkdir()
    release(str(root), ALICE)
    assert sorted(p.name for p in root.iterdir()) == ["releases"]


def test_only_one_of_many_simultaneous_runs_gets_the_lock(tmp_path):
    root = str(tmp_path)
    winners, refused = [], []
    start = threading.Barrier(8)

    def contend(number):
        start.wait()
        try:
            if acquire(root, dict(BOB, pid=number))[0]:
                winners.append(number)
        except LockHeld:
            refused.append(number)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(refused) == 7
    assert read_holder(lock_path(root))["pid"] == winners[0]
    assert [p for p in os.listdir(os.path.join(root, ".lastmile")) if p != "lock.json"] == []


@pytest.mark.parametrize("content", ["{not json", json.dumps(["holder"]), json.dumps({"holder": "x"})])
def test_a_damaged_lock_is_an_error_not_a_free_lock(tmp_path, content):
    root = tmp_path
    (root / ".lastmile").mkdir()
    (root / ".lastmile" / "lock.json").write_text(content)
    with pytest.raises(LockError, match="remove it by hand"):
        acquire(str(root), ALICE)


def test_describe_without_purpose():
    assert describe(BOB) == "bob@ctl2 (pid 200) since 2026-11-26T10:01:00Z"


def test_what_a_run_remembers_is_handed_to_the_run_that_breaks_its_lock(tmp_path):
    root = str(tmp_path)
    acquire(root, ALICE)
    assert remember(root, ALICE, "memory", {"app1": {"admin": "ready", "weight": 100}}) is True
    assert remember(root, BOB, "memory", {"app1": {"admin": "drain", "weight": 0}}) is False
    changed, broken = acquire(root, BOB, force=True)
    assert changed and broken["holder"] == ALICE
    assert broken["memory"] == {"app1": {"admin": "ready", "weight": 100}}
    assert "memory" not in json.loads((tmp_path / ".lastmile" / "lock.json").read_text())


def test_remembering_in_check_mode_writes_nothing(tmp_path):
    root = str(tmp_path)
    acquire(root, ALICE)
    assert remember(root, ALICE, "memory", {"x": 1}, check_mode=True) is True
    assert "memory" not in json.loads((tmp_path / ".lastmile" / "lock.json").read_text())
