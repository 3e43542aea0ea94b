"""The bad day: a host dies mid-rollout, HAProxy reloads mid-canary, ansible-playbook is interrupted.
Each test asserts what users rely on afterwards: no serving host left out of rotation, every
changed host back on a release that was there before, or the next run converging."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path

import pytest

from conftest import run_playbook
from helpers import FAST, ensure, lb_view

from fleet.inventory import local_connection
from fleet.procs import pid_alive, wait_until
from fleet.sshd import SSHServer

FLEET_HOSTS = 2  # two batches: the second host is the one that dies or is drained when interrupted


def test_host_dying_mid_rollout_stops_it_and_puts_the_others_back(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    victim = fleet.hosts[1]
    seen = {"task": "", "killed": False}

    def kill_victim_when_its_batch_starts(line):
        if line.startswith("TASK ["):
            seen["task"] = line
        elif not seen["killed"] and drained(victim, by=fleet.hosts[0])(seen["task"], line):
            # the host dies with its service manager, as if powered off
            info = victim.process_info()
            os.kill(victim.supervisord_pid(), signal.SIGKILL)
            if info and info.get("pid"):
                os.kill(info["pid"], signal.SIGKILL)
            seen["killed"] = True

    artifact = fleet.build_release("v2")
    run = run_playbook(fleet, "deploy", {**FAST, "deploy_version": "v2", "deploy_artifact": str(artifact.path),
                                         "deploy_checksum": artifact.checksum}, on_line=kill_victim_when_its_batch_starts)
    try:
        assert seen["killed"], "the victim's batch never started"
        assert run.rc != 0
        cause = re.search(r"Cause: (.*?)\. Restored: (.*?)\.", run.output.replace("\n", " "))
        assert cause, run.output[-3000:]
        assert cause.group(1).startswith(f"{victim.name}: Switch current and restart the service, then verify its health (release v2)"), cause.group(1)
        assert "supervisor" in cause.group(1)
        # the host before it went back to v1 and serves again
        assert fleet.hosts[0].current_target() == "releases/v1" and fleet.hosts[0].version() == "v1"
        assert victim.current_target() == "releases/v1", "the dead host keeps the new release"
        # no server left drained or with another weight than before, the dead one included
        assert lb_view(fleet) == before
    finally:
        victim.start()
        victim.wait_started()
    fleet.wait_lb(status="UP")


def run_cutting_off(fleet, victim, when, version="v2", **extra):
    """Deploy v2 with ``victim`` reached over SSH, and cut it off (sshd and its sessions gone) at the first output
    line for which ``when(task, line)`` holds; the run and whether it was cut."""
    server = SSHServer([victim.address])
    seen = {"task": "", "cut": False}

    def cut_the_victim_off(line):
        if line.startswith("TASK ["):
            seen["task"] = line
        if not seen["cut"] and when(seen["task"], line):
            server.stop(remove_workdir=False)
            seen["cut"] = True

    artifact = fleet.build_release(version)
    try:
        server.start()
        # only the victim is reached over SSH, so that only it can be cut off
        fleet.write_inventory(transport=lambda name, address: (
            server.host_vars(name, address) if name == victim.name else local_connection(name, address)))
        run = run_playbook(fleet, "deploy", {**FAST, "deploy_version": version, "deploy_artifact": str(artifact.path),
                                             "deploy_checksum": artifact.checksum, **extra}, on_line=cut_the_victim_off)
    finally:
        server.stop()
        fleet.write_inventory()
    assert seen["cut"], "the victim was never cut off:\n" + run.output[-3000:]
    return run


def drained(victim, by=None):
    """When ``victim``'s server was just taken out: by its own drain, or, where the batches hand on, by ``by`` giving
    the batch before it its traffic back."""
    return lambda task, line: (("Drain the batch" in task and line.startswith("changed: [%s " % victim.name))
                               or (by is not None and "then take the next batch out" in task
                                   and line.startswith("changed: [%s " % by.name)))


def test_host_unreachable_mid_rollout_stops_it_and_gives_its_server_back(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    victim = fleet.hosts[1]
    lock = Path(victim.root) / ".lastmile" / "lock.json"
    run = run_cutting_off(fleet, victim, drained(victim, by=fleet.hosts[0]))
    assert run.rc != 0
    assert "UNREACHABLE" in run.output
    assert f"Cause: {victim.name}: dropped out of the run (unreachable)" in run.output, run.output[-3000:]
    # the first batch went back to v1; the victim, never switched, still serves v1
    assert fleet.hosts[0].current_target() == "releases/v1" and fleet.hosts[0].version() == "v1"
    assert victim.current_target() == "releases/v1" and victim.version() == "v1"
    # its server was given back from the LB side although the host could not be reached
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    assert lock.exists(), "an unreachable host cannot give its lock back"
    lock.unlink()


def test_host_unreachable_when_recreate_stops_the_fleet_switches_no_host(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    victim = fleet.hosts[1]
    run = run_cutting_off(fleet, victim, drained(victim), deploy_strategy="recreate")
    assert run.rc != 0
    assert f"{victim.name}: dropped out of the run (unreachable)" in run.output, run.output[-3000:]
    # the host that stopped was started again on v1
    assert [h.current_target() for h in fleet.hosts] == ["releases/v1", "releases/v1"]
    assert fleet.hosts[0].version() == "v1"
    fleet_move = run.output.split("PLAY [Recreate the fleet]")[1].split("\nPLAY [")[0]
    # the switch never ran, or switched no host
    switches = [part.split("TASK [")[0] for part in fleet_move.split("Switch current and restart the service")[1:]]
    assert not any("changed:" in part for part in switches), fleet_move
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    (Path(victim.root) / ".lastmile" / "lock.json").unlink()


def test_host_unreachable_while_staging_stops_the_run_before_any_switch(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    victim = fleet.hosts[1]
    run = run_cutting_off(fleet, victim, lambda task, line: line.startswith("TASK [") and "Send the verified artifact" in line)
    assert run.rc != 0
    assert f"failed, nothing was switched: {victim.name}: dropped out of the run (unreachable)" in \
        " ".join(run.output.split()), run.output[-3000:]
    assert [h.current_target() for h in fleet.hosts] == ["releases/v1", "releases/v1"]
    assert lb_view(fleet) == before
    (Path(victim.root) / ".lastmile" / "lock.json").unlink()


def test_host_unreachable_inside_a_hook_fails_its_batch_naming_the_hook(fleet, tmp_path):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    victim = fleet.hosts[0]  # the first batch: cut off while its after_switch hook runs
    hook = tmp_path / "wait.yml"
    hook.write_text("---\n- name: Wait inside the hook\n  ansible.builtin.command: sleep 5\n  changed_when: false\n")
    run = run_cutting_off(fleet, victim, lambda task, line: line.startswith("TASK [") and "Wait inside the hook" in line,
                          version="v2hook", deploy_hooks={"after_switch": [str(hook)]})
    assert run.rc != 0
    text = " ".join(run.output.split())
    assert (f"Cause: {victim.name}: Stop at the hook that failed (release v2hook): after_switch hook: the host stopped "
            "answering: ") in text, run.output[-3000:]
    # switched, then lost: it cannot be put back, and the run says so instead of "rolled back"
    assert "putting back what it changed did not complete" in text, run.output[-3000:]
    assert f"Restore problems: {victim.name}: unreachable, not put back" in text, run.output[-3000:]
    assert "did not leave every host on one known release" in text, run.output[-3000:]
    assert f"Each host's release: {victim.name} unknown (could not be read), {fleet.hosts[1].name} v1 (" in text, \
        run.output[-3000:]
    # the other host never moved, and every server has its state from before the run
    assert fleet.hosts[1].current_target() == "releases/v1"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    assert victim.current_target() == "releases/v2hook"  # nobody could reach it to put v1 back
    victim.install_release(fleet.build_release("v1"))
    (Path(victim.root) / ".lastmile" / "lock.json").unlink()


def test_haproxy_reload_mid_canary_keeps_the_weights_and_aborts_safely(fleet):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    seen = {"task": "", "weights": None}

    def reload_during_the_window(line):
        if line.startswith("TASK ["):
            seen["task"] = line
            # 2 s into the 4 s window: after the module's first reading even on a busy controller
            # (it starts a few tenths of a second after the banner), well before its last
            if "Compare the canary with the stable servers" in line and seen["weights"] is None:
                threading.Timer(2.0, reload).start()

    def reload():
        fleet.haproxy.reload()
        seen["weights"] = lb_view(fleet)

    artifact = fleet.build_release("v2")
    with fleet.load():
        run = run_playbook(fleet, "deploy", {
            **FAST, "deploy_version": "v2", "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum,
            "deploy_strategy": "canary", "deploy_canary_interval": 4, "deploy_canary_min_requests": 5,
            "deploy_canary_steps": [30]}, on_line=reload_during_the_window)
    assert seen["weights"] is not None, "HAProxy was never reloaded"
    canary = fleet.hosts[0].name
    # the weights the run set survived the reload (server-state file)...
    assert seen["weights"][canary][1] != before[canary][1], seen["weights"]
    # ...and the run noticed the counters restarting and rolled back instead of judging on them
    assert run.rc != 0
    assert "was HAProxy reloaded?" in run.output, run.output[-3000:]
    assert set(fleet.versions().values()) == {"v1"}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_is_finished_by_the_next(fleet, signum):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    version = "v2" if signum == signal.SIGINT else "v3"
    victim = fleet.hosts[1]
    seen = {"task": "", "pid": None, "resent": 0}
    lock = Path(victim.root) / ".lastmile" / "lock.json"

    def interrupt_while_the_second_batch_is_drained(line):
        if line.startswith("TASK ["):
            seen["task"] = line
            if seen["pid"] is not None and pid_alive(seen["pid"]):
                # a rare signal is lost by ansible-playbook (CI saw the run go on to the end):
                # signal again at its next task, as a user pressing Ctrl-C twice does
                seen["resent"] += 1
                os.killpg(seen["pid"], signum)
        elif seen["pid"] is None and drained(victim, by=fleet.hosts[0])(seen["task"], line):
            seen["pid"] = json.loads(lock.read_text())["holder"]["pid"]
            os.killpg(seen["pid"], signum)  # the whole run, as a terminal or a job runner does

    artifact = fleet.build_release(version)
    extra = {**FAST, "deploy_version": version, "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum}
    interrupted = run_playbook(fleet, "deploy", extra, on_line=interrupt_while_the_second_batch_is_drained)
    assert seen["pid"] is not None, "the run was never interrupted"
    assert interrupted.rc != 0, (seen, interrupted.output[-2500:])
    wait_until(lambda: not pid_alive(seen["pid"]), timeout=10, what="the interrupted ansible-playbook to exit")
    # the interruption left the half-done work the next run has to deal with
    assert lb_view(fleet)[victim.name][0] == "drain", lb_view(fleet)
    assert lock.exists()

    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", extra)
    assert run.rc == 0, run.output[-3000:]
    assert "broke the deployment lock of a run that is no longer running" in run.output
    assert f"(pid {seen['pid']})" in run.output
    assert load.snapshot().failed == 0, load.snapshot()
    assert set(fleet.versions().values()) == {version}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before, "the next run kept the interrupted run's drain"
    assert not lock.exists()
