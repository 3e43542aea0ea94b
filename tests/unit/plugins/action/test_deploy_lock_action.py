# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Telling a dead holder of the deployment lock from a live one, and from one this controller cannot judge."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from ansible_collections.lastmile.deploy.plugins.action.deploy_lock import (
    controller_identity,
    is_dead_here,
    process_start,
    this_run,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import (
    COLLECTIONS,
    REPO,
    ansible_cli,
    run_ansible,
)


def exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_run_names_this_controller_and_process():
    run = this_run()
    assert run["controller"] == socket.gethostname()
    assert run["pid"] == os.getpid()
    assert run["pid_start"] == process_start(os.getpid())
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot_id:
        assert run["controller_identity"] == {"machine_id": controller_identity()["machine_id"],
                                              "boot_id": boot_id.read().strip(),
                                              "pid_namespace": os.readlink("/proc/self/ns/pid")}
    assert run["controller_identity"]["machine_id"]


def test_a_live_local_holder_is_not_dead():
    assert not is_dead_here(this_run())


def test_an_exited_local_holder_is_dead():
    assert is_dead_here(dict(this_run(), pid=exited_pid(), pid_start=1))


def test_a_reused_process_id_is_dead():
    assert is_dead_here(dict(this_run(), pid_start=process_start(os.getpid()) - 1))


def test_a_holder_on_another_controller_is_never_judged_dead():
    pid = exited_pid()
    assert not is_dead_here(dict(this_run(), controller=socket.gethostname() + "-other", pid=pid))
    assert not is_dead_here(dict(this_run(), pid="x"))


@pytest.mark.parametrize("key", ["machine_id", "boot_id", "pid_namespace"])
def test_a_holder_with_this_host_name_on_another_machine_boot_or_namespace_is_not_judged_dead(key):
    """A container or CI runner named like this controller: its process ids mean nothing here."""
    here = this_run()
    holder = dict(here, pid=exited_pid(), controller_identity=dict(here["controller_identity"], **{key: "elsewhere"}))
    assert not is_dead_here(holder)
    assert is_dead_here(dict(holder, controller_identity=here["controller_identity"]))


def test_a_holder_that_recorded_no_identity_is_not_judged_dead():
    """A lock taken by an earlier version names only the host name."""
    holder = {"user": "root", "controller": socket.gethostname(), "pid": exited_pid(), "pid_start": 1}
    assert not is_dead_here(holder)
    assert not is_dead_here(dict(holder, controller_identity=None))


def holder_in_new_pid_namespace() -> dict:
    """this_run() as recorded by a process in a PID namespace of its own (a container's view)."""
    code = ("import json; from ansible_collections.lastmile.deploy.plugins.action.deploy_lock import this_run; "
            "print(json.dumps(this_run()))")
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    for unshare in (["unshare", "--pid", "--fork", "--mount-proc"],
                    ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]):
        if shutil.which(unshare[0]) is None:
            break
        done = subprocess.run(unshare + [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        if done.returncode == 0:
            return json.loads(done.stdout)
    pytest.skip("cannot start a process in a new PID namespace here")


def test_a_finished_run_in_another_pid_namespace_with_this_host_name_is_not_judged_dead():
    holder = holder_in_new_pid_namespace()
    assert holder["controller"] == socket.gethostname()
    assert holder["controller_identity"]["pid_namespace"] != os.readlink("/proc/self/ns/pid")
    # its pid (1 there) names another process here, started at another time: still not judged dead
    assert holder["pid"] == 1 and holder["pid_start"] != process_start(1)
    assert not is_dead_here(holder)


def here_identity() -> dict:
    return this_run()["controller_identity"]


def plant(root, holder, **record):
    os.makedirs(os.path.join(root, ".lastmile"))
    with open(os.path.join(root, ".lastmile", "lock.json"), "w", encoding="utf-8") as lock:
        json.dump(dict({"holder": holder, "created_dirs": []}, **record), lock)


def test_the_lock_of_a_dead_run_of_this_controller_is_broken(tmp_path):
    root = str(tmp_path / "app")
    dead = dict(this_run(), user="carol", pid=exited_pid(), started="2026-11-26T09:00:00Z")
    plant(root, dead)
    rc, result = run_ansible("deploy_lock", {"root": root, "purpose": "deployment of shop 1.4.2"})
    assert rc == 0, result
    assert result["broken"] == dead and result["holder"]["purpose"] == "deployment of shop 1.4.2"
    assert result["holder"]["controller_identity"] == here_identity() and result["holder"]["pid"] != dead["pid"]


@pytest.mark.parametrize("identity, why", [
    (None, "recorded no machine, boot and PID namespace"),
    ({"boot_id": "0f0e0d0c-0000-4000-8000-000000000000"}, "on another machine, boot or PID namespace (a container or CI runner)"),
])
def test_a_lock_this_controller_cannot_judge_is_refused_saying_why(tmp_path, identity, why):
    root = str(tmp_path / "app")
    here = this_run()
    holder = dict(here, user="carol", pid=exited_pid(), started="2026-11-26T09:00:00Z")
    if identity is None:
        del holder["controller_identity"]
    else:
        holder["controller_identity"] = dict(here["controller_identity"], **identity)
    plant(root, holder)
    rc, result = run_ansible("deploy_lock", {"root": root})
    assert rc != 0
    assert result["msg"] == (
        "deployment lock %s/.lastmile/lock.json is held by carol@%s (pid %d) since 2026-11-26T09:00:00Z; "
        "it ran on a controller named %s like this one, but %s, so whether it still runs cannot be told from here: "
        "wait for that run to finish or, if it died, break the lock with force=true"
        % (root, here["controller"], holder["pid"], here["controller"], why))
    assert result["holder"] == holder
    with open(os.path.join(root, ".lastmile", "lock.json"), encoding="utf-8") as lock:
        assert json.load(lock)["holder"] == holder


def take_lock(root):
    """Take the lock through the ansible CLI: (exit code, result, what ansible printed on stderr)."""
    ansible, env = ansible_cli()
    done = subprocess.run(ansible + ["localhost", "-i", "localhost,", "-c", "local", "-m", "lastmile.deploy.deploy_lock",
                                     "-a", json.dumps({"root": root})],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    start = done.stdout.find("{", done.stdout.find("localhost | "))
    return done.returncode, json.JSONDecoder().raw_decode(done.stdout[start:])[0], done.stderr


MEMORY = {"lb_before": {"web1": {"admin": "ready", "weight": 100, "up": True}, "web2": {"admin": "drain", "weight": 0}}}


@pytest.mark.parametrize("trusted", [True, False])
def test_a_dead_run_s_memory_is_taken_over_only_from_a_lock_this_user_wrote(tmp_path, trusted):
    """Judged dead, the lock is broken by itself; what it remembered comes back only when this user wrote it."""
    root = str(tmp_path / "app")
    dead = dict(this_run(), user="carol", pid=exited_pid(), started="2026-11-26T09:00:00Z")
    plant(root, dead, memory=MEMORY)
    lock = os.path.join(root, ".lastmile", "lock.json")
    if not trusted:  # what the application's user could have written
        os.chmod(lock, 0o666)
    rc, result, stderr = take_lock(root)
    assert rc == 0, result
    assert result["broken"] == dead and result["holder"]["pid"] != dead["pid"]
    assert "broke the deployment lock of a run that is no longer running: carol@" in stderr
    if trusted:
        assert result["inherited"] == MEMORY
        assert "not trusted" not in stderr
    else:
        assert result["inherited"] == {}
        assert ("the broken deployment lock %s is not trusted, so nothing it remembered is taken over: the file is "
                "writable by users other than its owner (mode 0666)" % lock) in " ".join(stderr.split()), stderr
