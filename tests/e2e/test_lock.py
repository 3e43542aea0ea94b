"""The deployment lock: one run of an application at a time, its holder named, a dead run's lock broken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import host_state
from helpers import deploy, ensure

FLEET_HOSTS = 2

CANARY = {"deploy_strategy": "canary", "deploy_canary_interval": 2, "deploy_canary_min_requests": 5,
          "deploy_canary_steps": [50]}


def lock_file(host) -> Path:
    return Path(host.root) / ".lastmile" / "lock.json"


def plant_lock(host, **holder) -> dict:
    holder = {"user": "bob", "controller": "ctl-elsewhere", "pid": 4242, "pid_start": 77,
              "started": "2026-11-26T09:00:00Z", "purpose": "rolling deployment of sample v0", **holder}
    lock_file(host).parent.mkdir(parents=True, exist_ok=True)
    lock_file(host).write_text(json.dumps({"holder": holder, "created_dirs": []}))
    return holder


def wait_for(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def test_second_deployment_is_refused_naming_the_first(fleet):
    ensure(fleet, "v1")
    fleet.build_release("v2")
    first = {}
    running = threading.Thread(target=lambda: first.update(run=deploy(fleet, "v2", **CANARY)))
    with fleet.load():  # the canary needs traffic to judge
        running.start()
        try:
            wait_for(lambda: all(lock_file(h).exists() for h in fleet.hosts), what="the first run to take the lock")
            # each host stamps the time it took its lock: a second may tick between two hosts
            holders = {h.name: json.loads(lock_file(h).read_text())["holder"] for h in fleet.hosts}
            second = deploy(fleet, "v2", deploy_batch="100%")
            still_held = all(lock_file(h).exists() for h in fleet.hosts)
        finally:
            running.join()
    assert still_held, "the first run lost its lock while it was running"
    # the holder recorded is the first ansible-playbook process, which was alive at the time
    holder = holders[fleet.hosts[0].name]
    assert {(h["controller"], h["pid"], h["pid_start"]) for h in holders.values()} == {
        (holder["controller"], holder["pid"], holder["pid_start"])}
    assert holder["controller"] == socket.gethostname() and holder["purpose"] == "canary deployment of sample v2"
    assert second.rc != 0
    assert "Another run holds the deployment lock of sample, nothing was changed" in second.output
    for host in fleet.hosts:
        held = holders[host.name]
        assert (f"{host.name}: deployment lock {lock_file(host)} is held by {held['user']}@{held['controller']} "
                f"(pid {held['pid']}) since {held['started']} for canary deployment of sample v2") in second.output
    assert "deploy_lock_break=true" in second.output
    assert second.total_changed() == 0, second.recap
    assert first["run"].rc == 0, first["run"].output[-3000:]
    assert set(fleet.versions().values()) == {"v2"}
    assert not any(lock_file(h).exists() for h in fleet.hosts), "the lock was not given back"


def test_lock_of_another_controller_is_refused_until_broken_explicitly(fleet):
    ensure(fleet, "v1")
    holder = plant_lock(fleet.hosts[1])
    before = host_state(fleet)
    refused = deploy(fleet, "v3")
    assert refused.rc != 0
    assert (f"{fleet.hosts[1].name}: deployment lock {lock_file(fleet.hosts[1])} is held by "
            "bob@ctl-elsewhere (pid 4242) since 2026-11-26T09:00:00Z for rolling deployment of sample v0") in refused.output
    assert host_state(fleet) == before, "a refused run changed hosts, the LB or the lock"
    assert json.loads(lock_file(fleet.hosts[1]).read_text())["holder"] == holder

    run = deploy(fleet, "v3", deploy_lock_break=True)
    assert run.rc == 0, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v3"}
    assert not any(lock_file(h).exists() for h in fleet.hosts)


def test_lock_of_a_dead_run_on_this_controller_is_broken_with_a_warning(fleet):
    ensure(fleet, "v1")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    plant_lock(fleet.hosts[0], user="root", controller=socket.gethostname(), pid=dead.pid)
    run = deploy(fleet, "v1")
    assert run.rc == 0, run.output[-3000:]
    assert (f"broke the deployment lock of a run that is no longer running: root@{socket.gethostname()} "
            f"(pid {dead.pid})") in run.output
    assert not lock_file(fleet.hosts[0]).exists()


def test_check_mode_is_refused_by_a_held_lock_and_takes_none(fleet):
    ensure(fleet, "v1")
    plant_lock(fleet.hosts[0], pid=os.getpid(), controller="ctl-elsewhere")
    run = deploy(fleet, "v4", args=("--check",))
    assert run.rc != 0 and "is held by bob@ctl-elsewhere" in run.output
    lock_file(fleet.hosts[0]).unlink()
    run = deploy(fleet, "v4", args=("--check",))
    assert run.rc == 0, run.output[-3000:]
    assert not any(lock_file(h).exists() for h in fleet.hosts)
