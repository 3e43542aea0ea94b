# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock: taken once, refused to others with its holder named, broken on request."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils._lock import (
    LockError,
    LockHeld,
    acquire,
    describe,
    holder_id,
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
    assert sorted(os.listdir(os.path.join(root, ".lastmile"))) == ["lock.guard", "lock.json"]


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


HERE = {"machine_id": "3d1219c7c4c5404aaa1f6d2a48adfda4", "boot_id": "8a72b2a3-0d58-49e1-8e02-85c6ee837ac5",
        "pid_namespace": "pid:[4026531836]"}
DEAD = {"user": "carol", "controller": "ctl1", "controller_identity": HERE, "pid": 300, "pid_start": 9,
        "started": "2026-11-26T09:00:00Z"}


def test_breaking_a_named_holder_breaks_only_that_run(tmp_path):
    root = str(tmp_path)
    acquire(root, DEAD)
    changed, broken = acquire(root, ALICE, break_holder=holder_id(DEAD))
    assert changed and broken["holder"] == DEAD
    assert read_holder(lock_path(root)) == ALICE
    # a second run that saw the same dead holder finds ALICE instead: refused, naming ALICE
    with pytest.raises(LockHeld) as caught:
        acquire(root, BOB, break_holder=holder_id(DEAD))
    assert caught.value.holder == ALICE and "alice@ctl1 (pid 100)" in str(caught.value)
    assert read_holder(lock_path(root)) == ALICE


def test_breaking_a_named_holder_in_check_mode_writes_nothing(tmp_path):
    root = str(tmp_path)
    acquire(root, DEAD)
    assert acquire(root, ALICE, check_mode=True, break_holder=holder_id(DEAD))[1]["holder"] == DEAD
    with pytest.raises(LockHeld):
        acquire(root, ALICE, check_mode=True, break_holder=holder_id(BOB))
    assert read_holder(lock_path(root)) == DEAD


@pytest.mark.parametrize("key", ["machine_id", "boot_id", "pid_namespace"])
def test_the_same_pid_on_another_machine_boot_or_namespace_is_another_run(tmp_path, key):
    root = str(tmp_path)
    acquire(root, DEAD)
    twin = dict(DEAD, controller_identity=dict(HERE, **{key: "other"}))
    assert holder_id(twin) != holder_id(DEAD)
    with pytest.raises(LockHeld):
        acquire(root, twin)
    assert release(root, twin) is False
    assert read_holder(lock_path(root)) == DEAD


@pytest.mark.parametrize("where", ["root", "parent"])
def test_a_deploy_root_that_is_a_file_is_named_and_nothing_is_created(tmp_path, where):
    (tmp_path / "app").write_text("not a directory")
    root = tmp_path / "app" if where == "root" else tmp_path / "app" / "shop"
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    for check_mode in (True, False):
        with pytest.raises(LockError) as caught:
            acquire(str(root), ALICE, check_mode=check_mode)
        assert str(caught.value) == ("cannot keep the deployment lock in %s/.lastmile: %s exists and is not a directory"
                                     % (root, tmp_path / "app"))
    assert release(str(root), ALICE) is False
    assert remember(str(root), ALICE, "memory", {}) is False
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def contend(root, holder, break_holder, start, answers):
    """One run: wait for the others, then break ``break_holder``'s lock; report what happened."""
    start.wait()
    try:
        answers.put((holder["pid"], "took" if acquire(root, holder, break_holder=break_holder)[0] else "had"))
    except LockHeld as exc:
        answers.put((holder["pid"], exc.holder["pid"]))


def test_of_processes_breaking_the_same_dead_run_exactly_one_takes_the_lock(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_number in range(50):
        root = str(tmp_path / str(round_number))
        acquire(root, DEAD)
        start, answers = context.Barrier(4), context.Queue()
        racers = [context.Process(target=contend, args=(root, dict(BOB, pid=pid), holder_id(DEAD), start, answers))
                  for pid in range(1, 5)]
        for racer in racers:
            racer.start()
        outcomes = dict(answers.get(timeout=60) for _racer in racers)
        for racer in racers:
            racer.join()
        winners = [pid for pid, outcome in outcomes.items() if outcome == "took"]
        assert len(winners) == 1, "round %d: %s" % (round_number, outcomes)
        assert {outcome for pid, outcome in outcomes.items() if pid != winners[0]} == {winners[0]}, outcomes
        assert read_holder(lock_path(root))["pid"] == winners[0]
        assert sorted(os.listdir(os.path.join(root, ".lastmile"))) == ["lock.guard", "lock.json"]


def take_turns(root, number, turns, log_path):
    """Take the lock ``turns`` times (waiting while another run holds it), logging entry and exit."""
    holder = dict(BOB, pid=number)
    for _turn in range(turns):
        while True:
            try:
                acquire(root, holder)
                break
            except LockHeld:
                time.sleep(0.001)
        with open(log_path, "a", encoding="ascii") as log:
            log.write("in %d\n" % number)
        time.sleep(0.001)
        with open(log_path, "a", encoding="ascii") as log:
            log.write("out %d\n" % number)
        assert release(root, holder)


def test_runs_taking_turns_never_hold_the_lock_together(tmp_path):
    """Each give-back removes the directories the lock created while others wait for the guard in them."""
    root, log_path = str(tmp_path / "opt" / "shop"), str(tmp_path / "turns.log")
    context = multiprocessing.get_context("fork")
    runs = [context.Process(target=take_turns, args=(root, number, 25, log_path)) for number in range(1, 5)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=120)
        assert run.exitcode == 0
    lines = (tmp_path / "turns.log").read_text().splitlines()
    assert len(lines) == 4 * 25 * 2
    assert lines[0::2] == [line.replace("out", "in") for line in lines[1::2]], "two runs held the lock together"
    assert all(line.startswith("in ") for line in lines[0::2])
    # removing what the lock created is best effort while another run creates it again: at most
    # empty directories and the guard stay, never a lock or half-written file
    left = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "opt").rglob("*") if not p.is_dir()]
    assert left in ([], ["opt/shop/.lastmile/lock.guard"]), left


def test_a_refused_run_writes_nothing_at_all(tmp_path):
    """Not even the guard: a run that may not take the lock only reads it."""
    root = tmp_path / "app"
    (root / ".lastmile").mkdir(parents=True)
    (root / ".lastmile" / "lock.json").write_text(json.dumps({"holder": ALICE, "created_dirs": []}))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (root / ".lastmile").iterdir())
    with pytest.raises(LockHeld):
        acquire(str(root), BOB)
    with pytest.raises(LockHeld):
        acquire(str(root), BOB, break_holder=holder_id(DEAD))
    assert release(str(root), BOB) is False
    assert remember(str(root), BOB, "memory", {"x": 1}) is False
    assert acquire(str(root), ALICE) == (False, None)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (root / ".lastmile").iterdir()) == before
