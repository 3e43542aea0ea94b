# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock: taken once, refused to others with its holder named, broken on request."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.lock.deployment_lock import (
    LockError,
    LockHeld,
    acquire,
    check_memory,
    describe,
    holder_id,
    lock_path,
    read_holder,
    release,
    remember,
    split_memory,
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
    assert acquire(root, BOB, force=True)[1].holder == ALICE
    assert read_holder(lock_path(root)) == BOB


def test_check_mode_writes_nothing_and_still_refuses(tmp_path):
    root = str(tmp_path / "fresh")
    assert acquire(root, ALICE, check_mode=True) == (True, None)
    assert not os.path.exists(root)
    os.makedirs(root)
    acquire(root, ALICE)
    with pytest.raises(LockHeld):
        acquire(root, BOB, check_mode=True)
    assert acquire(root, BOB, force=True, check_mode=True)[1].holder == ALICE
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
    kept = {"lb_before": {"app1": {"admin": "ready", "weight": 100, "up": True}}}
    assert remember(root, ALICE, "memory", kept) is True
    assert remember(root, BOB, "memory", {"lb_before": {"app1": {"admin": "drain", "weight": 0}}}) is False
    changed, broken = acquire(root, BOB, force=True)
    assert changed and broken.holder == ALICE
    assert broken.inherited == kept and broken.warnings == []
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
    assert changed and broken.holder == DEAD
    assert read_holder(lock_path(root)) == ALICE
    # a second run that saw the same dead holder finds ALICE instead: refused, naming ALICE
    with pytest.raises(LockHeld) as caught:
        acquire(root, BOB, break_holder=holder_id(DEAD))
    assert caught.value.holder == ALICE and "alice@ctl1 (pid 100)" in str(caught.value)
    assert read_holder(lock_path(root)) == ALICE


def test_breaking_a_named_holder_in_check_mode_writes_nothing(tmp_path):
    root = str(tmp_path)
    acquire(root, DEAD)
    assert acquire(root, ALICE, check_mode=True, break_holder=holder_id(DEAD))[1].holder == DEAD
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


# The deploy root (and .lastmile in it) may be writable by the application's own user while runs
# are root: what that user plants must not make a run act outside the root or trust its data.

OTHER_UID = 65534  # nobody: stands for the application's user
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def files_under(top):
    """Every path under ``top`` with what a change would alter (links not followed)."""
    found = {}
    for directory, dirs, files in os.walk(str(top)):
        for path in [directory] + [os.path.join(directory, name) for name in dirs + files]:
            status = os.lstat(path)
            found[path] = (status.st_mode, status.st_uid, status.st_size, status.st_mtime_ns, status.st_ino)
    return found


def outside_tree(tmp_path):
    """A tree beside the deploy root that no lock operation may touch."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text("TOPSECRET\n")
    return outside


def plant(root, record):
    """A lock.json written by whoever can write ``<root>/.lastmile``."""
    lock = root / ".lastmile" / "lock.json"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps(record))
    return lock


def test_breaking_a_lock_never_takes_over_the_directories_it_names(tmp_path):
    root = tmp_path / "app"
    outside = tmp_path / "outside" / ("far-" * 20)  # longer than any path of the root: removed first before
    outside.mkdir(parents=True)
    lock = plant(root, {"holder": BOB, "created_dirs": [str(outside), str(root), str(root / ".lastmile")]})
    assert acquire(str(root), ALICE, force=True)[0] is True
    assert json.loads(lock.read_text()) == {"holder": ALICE, "created_dirs": []}, "took over directories it did not create"
    assert release(str(root), ALICE) is True
    assert outside.is_dir(), "giving the lock back removed a directory outside the deploy root"
    assert sorted(os.listdir(str(root / ".lastmile"))) == ["lock.guard"], "removed directories this run did not create"


def test_a_give_back_removes_only_the_lock_directory_and_the_parents_it_created(tmp_path):
    root = tmp_path / "opt" / "shop"
    acquire(str(root), ALICE)
    lock = root / ".lastmile" / "lock.json"
    assert json.loads(lock.read_text())["created_dirs"] == [str(tmp_path / "opt"), str(root), str(root / ".lastmile")]
    outside = tmp_path / "elsewhere" / ("x" * 80)
    outside.mkdir(parents=True)
    record = json.loads(lock.read_text())
    lock.write_text(json.dumps(dict(record, created_dirs=record["created_dirs"] + [str(outside), str(tmp_path)])))
    assert release(str(root), ALICE) is True
    assert not (tmp_path / "opt").exists()
    assert outside.is_dir() and tmp_path.is_dir()


def test_a_give_back_does_not_follow_a_deploy_root_swapped_for_a_link(tmp_path, monkeypatch):
    """The user owning the root's parent swaps the root for a link just before the empty directories go."""
    parent = tmp_path / "home"
    parent.mkdir()
    root = parent / "shop"
    acquire(str(root), ALICE)
    outside = tmp_path / "outside"
    (outside / ".lastmile").mkdir(parents=True)
    (outside / ".lastmile" / "lock.guard").write_text("")
    before = files_under(outside)
    real_listdir = os.listdir

    def swap_then_list(target):
        if not (parent / "kept").exists():
            os.rename(str(root), str(parent / "kept"))
            os.symlink(str(outside), str(root))
        return real_listdir(target)

    monkeypatch.setattr(os, "listdir", swap_then_list)
    assert release(str(root), ALICE) is True
    monkeypatch.undo()
    assert files_under(outside) == before
    assert not (parent / "kept" / ".lastmile" / "lock.json").exists()


def make_untrusted(root, lock, how):
    if how == "file of another user":
        os.chown(str(lock), OTHER_UID, OTHER_UID)
        return "the file is owned by "
    if how == "directory of another user":
        os.chown(str(lock.parent), OTHER_UID, OTHER_UID)
        return "its directory %s is owned by " % lock.parent
    if how == "group-writable file":
        lock.chmod(0o660)
        return "the file is writable by users other than its owner (mode 0660)"
    lock.parent.chmod(0o777)
    return "its directory %s is writable by users other than its owner (mode 0777)" % lock.parent


UNTRUSTED = [pytest.param("file of another user", marks=needs_root), pytest.param("directory of another user", marks=needs_root),
             "group-writable file", "world-writable directory"]
GOOD_MEMORY = {"lb_before": {"web1": {"admin": "ready", "weight": 100, "up": True}, "web2": {"admin": "maint", "weight": 0}}}


@pytest.mark.parametrize("how", UNTRUSTED)
def test_what_a_lock_not_written_by_this_user_remembered_is_not_taken_over(tmp_path, how):
    root = tmp_path / "app"
    lock = plant(root, {"holder": BOB, "created_dirs": [], "memory": GOOD_MEMORY})
    why = make_untrusted(root, lock, how)
    with pytest.raises(LockHeld):
        acquire(str(root), ALICE)
    for check_mode in (True, False):
        changed, broken = acquire(str(root), ALICE, force=True, check_mode=check_mode)
        assert changed and broken.holder == BOB and broken.inherited == {}
        assert len(broken.warnings) == 1 and broken.warnings[0].startswith(
            "the broken deployment lock %s is not trusted, so nothing it remembered is taken over: %s" % (lock, why))
    assert read_holder(str(lock)) == ALICE


def test_a_lock_naming_this_run_in_a_file_of_another_user_is_not_its_own(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    root = tmp_path / "app"
    lock = plant(root, {"holder": ALICE, "created_dirs": [str(tmp_path / "outside")], "memory": GOOD_MEMORY})
    (tmp_path / "outside").mkdir()
    os.chown(str(lock), OTHER_UID, OTHER_UID)
    assert remember(str(root), ALICE, "memory", {}) is False
    assert release(str(root), ALICE) is False
    assert lock.stat().st_uid == OTHER_UID
    changed, broken = acquire(str(root), ALICE)
    assert changed and broken.inherited == {}
    assert lock.stat().st_uid == os.geteuid() and json.loads(lock.read_text()) == {"holder": ALICE, "created_dirs": []}
    assert release(str(root), ALICE) is True and (tmp_path / "outside").is_dir()


@pytest.mark.parametrize("lb_before, problem", [
    ({"web1": {"admin": "drain", "weight": 300}}, "web1.weight is 300, expected an integer from 0 to 256"),
    ({"web1": {"admin": "drain", "weight": "0"}}, "web1.weight is '0', expected an integer from 0 to 256"),
    ({"web1": {"admin": "drain", "weight": True}}, "web1.weight is True, expected an integer from 0 to 256"),
    ({"web1": {"admin": "drain"}}, "web1.weight is None, expected an integer from 0 to 256"),
    ({"web1": {"admin": "up", "weight": 1}}, "web1.admin is 'up', expected one of ready, drain, maint"),
    ({"web1\nshutdown sessions server app/web2": {"admin": "ready", "weight": 1}},
     "server name 'web1\\nshutdown sessions server app/web2' is not a valid HAProxy name"),
    ({"web1": ["drain", 0]}, "web1 is ['drain', 0], expected a mapping with admin and weight"),
    ({"web1": {"admin": "drain", "weight": 0, "up": {"x": 1}}}, "web1.up is {'x': 1}, expected a plain value"),
    (["web1"], "is ['web1'], expected a mapping of HAProxy server name to its admin state and weight"),
])
def test_remembered_load_balancer_state_of_the_wrong_shape_is_ignored_with_a_warning(tmp_path, lb_before, problem):
    root = str(tmp_path)
    acquire(root, BOB)
    assert remember(root, BOB, "memory", {"lb_before": lb_before}) is True
    changed, broken = acquire(root, ALICE, force=True)
    assert changed and broken.inherited == {}
    assert len(broken.warnings) == 1
    assert broken.warnings[0].startswith("ignored what the broken deployment lock %s remembered: memory.lb_before: %s"
                                         % (lock_path(root), problem)), broken.warnings
    with pytest.raises(LockError) as caught:
        check_memory({"lb_before": lb_before})
    assert str(caught.value).startswith("memory.lb_before: " + problem) and str(caught.value).endswith("; nothing was changed")


def test_keys_a_lock_does_not_keep_are_ignored_and_the_rest_taken_over(tmp_path):
    root = str(tmp_path)
    acquire(root, BOB)
    remember(root, BOB, "memory", dict(GOOD_MEMORY, notes="drained web1 by hand"))
    changed, broken = acquire(root, ALICE, force=True)
    assert broken.inherited == GOOD_MEMORY
    assert broken.warnings == ["ignored what the broken deployment lock %s remembered: memory has 'notes', "
                               "expected only the keys lb_before" % lock_path(root)]


SERVER_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.text(max_size=6), st.floats(allow_nan=False))
servers = st.dictionaries(
    st.sampled_from(["admin", "weight", "up", "status", "initial_weight"]) | st.text(max_size=4),
    scalars | st.sampled_from(["ready", "drain", "maint"]) | st.lists(scalars, max_size=2), max_size=5)
lb_states = st.dictionaries(st.from_regex(SERVER_NAME, fullmatch=True) | st.text(max_size=8), servers | scalars, max_size=4)
memories = st.dictionaries(st.sampled_from(["lb_before", "other"]) | st.text(max_size=5), lb_states | scalars, max_size=3)


def well_formed(lb_before):
    """The shape the traffic role relies on, stated apart from the code that checks it."""
    return isinstance(lb_before, dict) and all(
        isinstance(name, str) and SERVER_NAME.fullmatch(name) and isinstance(server, dict)
        and server.get("admin") in ("ready", "drain", "maint")
        and isinstance(server.get("weight"), int) and not isinstance(server["weight"], bool) and 0 <= server["weight"] <= 256
        and all(isinstance(value, (type(None), bool, int, float, str)) for value in server.values())
        for name, server in lb_before.items())


@settings(max_examples=300, deadline=None, database=None)
@given(memory=memories)
def test_only_well_formed_memory_is_ever_taken_over(memory):
    inherited, problems = split_memory(memory)
    assert set(inherited) <= {"lb_before"}
    assert all(well_formed(value) for value in inherited.values())
    expected = {"lb_before": memory["lb_before"]} if "lb_before" in memory and well_formed(memory["lb_before"]) else {}
    assert inherited == expected
    assert len(problems) == len(memory) - len(inherited)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_lock_directory_that_is_a_link_is_refused_and_nothing_is_written_through_it(tmp_path, check_mode):
    outside = outside_tree(tmp_path)
    root = tmp_path / "app"
    root.mkdir()
    os.symlink(str(outside), str(root / ".lastmile"))
    before = files_under(tmp_path)
    with pytest.raises(LockError) as caught:
        acquire(str(root), ALICE, check_mode=check_mode)
    assert str(caught.value) == ("cannot keep the deployment lock in %s/.lastmile: %s/.lastmile is a symbolic link to %s, "
                                 "expected a directory" % (root, root, outside))
    assert release(str(root), ALICE) is False
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("target", ["dir/created-by-lock", "secret.txt"])
def test_a_guard_that_is_a_link_is_refused_and_never_opened(tmp_path, target):
    outside = outside_tree(tmp_path)
    root = tmp_path / "app"
    (root / ".lastmile").mkdir(parents=True)
    os.symlink(str(outside / target), str(root / ".lastmile" / "lock.guard"))
    before = files_under(outside)
    with pytest.raises(LockError) as caught:
        acquire(str(root), ALICE)
    assert str(caught.value) == ("cannot change the deployment lock: %s/.lastmile/lock.guard is a symbolic link to %s, "
                                 "expected a regular file; remove it by hand" % (root, outside / target))
    assert files_under(outside) == before
    assert sorted(os.listdir(str(root / ".lastmile"))) == ["lock.guard"]


def test_a_lock_that_is_a_link_is_refused_not_read_through(tmp_path):
    outside = outside_tree(tmp_path)
    (outside / "lock.json").write_text(json.dumps({"holder": BOB, "created_dirs": [str(outside / "dir")]}))
    root = tmp_path / "app"
    (root / ".lastmile").mkdir(parents=True)
    os.symlink(str(outside / "lock.json"), str(root / ".lastmile" / "lock.json"))
    before = files_under(outside)
    for force in (False, True):
        with pytest.raises(LockError) as caught:
            acquire(str(root), ALICE, force=force)
        assert str(caught.value) == ("cannot read deployment lock: %s/.lastmile/lock.json is a symbolic link to %s, "
                                     "expected a regular file; remove it by hand if no run holds it"
                                     % (root, outside / "lock.json"))
    assert files_under(outside) == before


def test_a_fifo_in_place_of_the_lock_is_refused_without_waiting_for_a_writer(tmp_path):
    root = tmp_path / "app"
    (root / ".lastmile").mkdir(parents=True)
    os.mkfifo(str(root / ".lastmile" / "lock.json"))
    outcome = []

    def take():
        try:
            acquire(str(root), ALICE)
            outcome.append("taken")
        except LockError as exc:
            outcome.append(str(exc))

    taking = threading.Thread(target=take, daemon=True)
    taking.start()
    taking.join(timeout=10)
    assert outcome == ["cannot read deployment lock: %s/.lastmile/lock.json is a fifo, expected a regular file; "
                       "remove it by hand if no run holds it" % root]


def test_a_lock_directory_swapped_for_a_link_after_taking_changes_nothing_outside(tmp_path):
    outside = outside_tree(tmp_path)
    root = tmp_path / "app"
    acquire(str(root), ALICE)
    shutil.copytree(str(root / ".lastmile"), str(outside / "copy"))
    shutil.rmtree(str(root / ".lastmile"))
    os.symlink(str(outside / "copy"), str(root / ".lastmile"))
    before = files_under(outside)
    with pytest.raises(LockError, match="is a symbolic link to .*, expected a directory"):
        remember(str(root), ALICE, "memory", GOOD_MEMORY)
    assert release(str(root), ALICE) is False
    assert files_under(outside) == before
