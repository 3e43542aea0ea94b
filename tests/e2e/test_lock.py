"""The deployment lock: one run of an application at a time, its holder named, a dead run's lock broken."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import host_state
from helpers import deploy, ensure

from ansible_collections.lastmile.deploy.plugins.action.deploy_lock import controller_identity

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
    # recorded under this host name only (an earlier version, or a container named alike): not judged
    holder = plant_lock(fleet.hosts[0], user="root", controller=socket.gethostname(), pid=dead.pid)
    before = host_state(fleet)
    refused = deploy(fleet, "v1")
    assert refused.rc != 0
    assert (f"{fleet.hosts[0].name}: deployment lock {lock_file(fleet.hosts[0])} is held by root@{socket.gethostname()} "
            f"(pid {dead.pid}) since 2026-11-26T09:00:00Z for rolling deployment of sample v0; it ran on a controller "
            f"named {socket.gethostname()} like this one, but recorded no machine, boot and PID namespace") in refused.output
    assert "if that run is dead, run again with -e deploy_lock_break=true" in refused.output
    assert host_state(fleet) == before
    assert json.loads(lock_file(fleet.hosts[0]).read_text())["holder"] == holder
    # recorded with this controller's identity: provably dead, broken
    plant_lock(fleet.hosts[0], user="root", controller=socket.gethostname(), pid=dead.pid,
               controller_identity=controller_identity())
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


def host_vars_file(tmp_path, host, **host_vars) -> str:
    """A second inventory source that overrides variables of one host of the fleet."""
    path = tmp_path / ("override-%s.yml" % host.name)
    path.write_text(yaml.safe_dump({"all": {"hosts": {host.name: host_vars}}}))
    return str(path)


def lock_headlines(run) -> list:
    """The msg of every task that failed (its ``fatal: [host]: FAILED! => {...}`` line)."""
    return [json.loads(line.split(" => ", 1)[1])["msg"] for line in run.output.splitlines()
            if line.startswith("fatal: [") and ": FAILED! => " in line]


def stopped_at_the_lock(run) -> bool:
    """Every host stopped where the lock was judged (with the LB reading, at the start of the run):
    the next task that runs on the hosts is the give-back (always).

    Before it, where the preparing play ends (always), the hand-over hands on no plan; the give-back
    comes through the include that closes a run in the preparing play (the engine's close_preparing, whose
    check-mode statement and staging stop are skipped).
    """
    tasks = re.findall(r"^TASK \[(.*?)\] \*", run.output, re.M)
    stop = tasks.index("lastmile.deploy.engine : Start the run from what the hosts and the load balancer said")
    closing = {"Give back the lock and judge the outcome of the run", "lastmile.deploy.engine : Say what the run would do",
               "lastmile.deploy.engine : Hand the plan to the plays that move it, or none when the run failed",
               "lastmile.deploy.engine : Stop before any switch when staging failed"}
    after = [task for task in tasks[stop + 1:] if task not in closing]
    return after[0] == "lastmile.deploy.lock : Give back the deployment lock of sample"


@pytest.fixture(params=["missing", "exits 1"])
def broken_python(request, tmp_path):
    """(interpreter, what the headline must say about it)."""
    if request.param == "missing":
        return "/nonexistent/python", "The module interpreter '/nonexistent/python' was not found (rc 127, "
    script = tmp_path / "python-exits-1"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o755)
    return str(script), "(rc 1)"


def test_a_host_with_a_broken_python_is_named_with_the_cause_and_nothing_changes(fleet, tmp_path, broken_python):
    ensure(fleet, "v1")
    interpreter, cause = broken_python
    broken = fleet.hosts[1]
    before = host_state(fleet)
    run = deploy(fleet, "v5", args=("-i", host_vars_file(tmp_path, broken, ansible_python_interpreter=interpreter)))
    assert run.rc != 0
    headlines = lock_headlines(run)
    assert len(headlines) == 1, run.output[-3000:]
    assert f"nothing was changed: {broken.name}: " in headlines[0] and cause in headlines[0], headlines[0]
    assert fleet.hosts[0].name + ":" not in headlines[0].split("nothing was changed:", 1)[1]
    assert "deploy_lock_break" not in run.output and "Another run holds" not in run.output
    assert host_state(fleet) == before
    assert not any(lock_file(h).exists() for h in fleet.hosts)
    assert stopped_at_the_lock(run)


def test_an_unreachable_host_is_named_and_every_host_stops(fleet, tmp_path):
    ensure(fleet, "v1")
    lost = fleet.hosts[0]
    before = host_state(fleet)
    unreachable = host_vars_file(tmp_path, lost, ansible_connection="ssh", ansible_port=1,
                                 ansible_ssh_common_args="-o ConnectTimeout=5")
    run = deploy(fleet, "v5", args=("-i", unreachable))
    assert run.rc != 0
    headlines = lock_headlines(run)
    assert len(headlines) == 1, run.output[-3000:]
    assert f"nothing was changed: {lost.name}: unreachable: " in headlines[0] and "port 1" in headlines[0], headlines[0]
    assert "deploy_lock_break" not in run.output and stopped_at_the_lock(run)
    assert host_state(fleet) == before
    assert not any(lock_file(h).exists() for h in fleet.hosts)


def test_a_deploy_root_that_is_a_file_is_named_with_its_host(fleet, tmp_path):
    ensure(fleet, "v1")
    odd = fleet.hosts[0]
    not_a_dir = tmp_path / "root-is-a-file"
    not_a_dir.write_text("not a directory")
    before = host_state(fleet)
    run = deploy(fleet, "v5", args=("-i", host_vars_file(tmp_path, odd, deploy_root=str(not_a_dir))))
    assert run.rc != 0
    headlines = lock_headlines(run)
    assert len(headlines) == 1, run.output[-3000:]
    assert (f"nothing was changed: {odd.name}: cannot keep the deployment lock in {not_a_dir}/.lastmile: "
            f"{not_a_dir} exists and is not a directory.") in headlines[0], headlines[0]
    assert "deploy_lock_break" not in run.output
    assert not_a_dir.read_text() == "not a directory"
    assert host_state(fleet) == before
    assert not any(lock_file(h).exists() for h in fleet.hosts)
