# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling and canary deployments over a real SSH transport: the tests' own sshd on loopback, an
unprivileged login account, become (sudo) to root, pipelining on; LB host lb1 over SSH too."""

from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet import Fleet
from fleet.addresses import free_base_address
from fleet.playbook import REPO, ansible_env
from fleet.sshd import REMOTE_PYTHON, SSHServer
from helpers import FAST, deploy, history, lb_view, run_playbook

FLEET_HOSTS = 2
LB_ADDRESS = "127.0.0.1"
CANARY = {"deploy_strategy": "canary", "deploy_canary_interval": 2, "deploy_canary_min_requests": 10}
ADHOC = str(Path(sys.executable).parent / "ansible")


@pytest.fixture(scope="module")
def ssh_fleet():
    """A 2-host fleet serving v1 (seeded by hand) whose inventory reaches app hosts and lb1 over SSH."""
    with Fleet(hosts=FLEET_HOSTS, base_address=free_base_address(FLEET_HOSTS)) as fleet:
        server = SSHServer([LB_ADDRESS] + [h.address for h in fleet.hosts])
        try:
            server.start()
            fleet.write_inventory(transport=server.host_vars)
            fleet.install_release(fleet.build_release("v1"))
            fleet.wait_lb("UP")
            yield fleet, server
        finally:
            server.stop()
        left = server.processes()
        assert not left, f"sshd or its sessions outlived the tests: {left}"
        assert not os.path.exists(server.sudoers_path), "sudo rule left behind"


def adhoc(fleet, pattern, command, *args):
    proc = subprocess.run([ADHOC, "-i", fleet.inventory_path, pattern, "-m", "ansible.builtin.command", "-a", command,
                           *args], cwd=REPO, env=ansible_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def timed_deploy(fleet, version, **extra):
    started = time.monotonic()
    run = deploy(fleet, version, **extra)
    print(f"deployment of {version} over SSH ({extra.get('deploy_strategy', 'rolling')}): "
          f"{time.monotonic() - started:.1f}s")
    return run


def test_modules_run_as_root_through_sudo_over_ssh_with_pipelining(ssh_fleet):
    fleet, server = ssh_fleet
    assert pwd.getpwnam(server.user).pw_uid != 0
    rc, out = adhoc(fleet, "all", "id -un", "-vvv")
    assert rc == 0, out[-3000:]
    names = ["lb1"] + [h.name for h in fleet.hosts]
    assert dict(re.findall(r"^(\w+) \| CHANGED \| rc=0 >>\n(\S+)$", out, re.M)) == {n: "root" for n in names}, out[-3000:]
    for address in server.addresses:
        assert f"<{address}> ESTABLISH SSH CONNECTION FOR USER: {server.user}" in out, address
        assert re.search(rf"SSH: EXEC ssh .*-o Port={server.port} .*-F {re.escape(server.ssh_config)} .* {re.escape(address)} ",
                         out), address
    # pipelined: the interpreter reads the module on stdin, no module file is copied over first
    assert "Pipelining is enabled." in out
    become = re.findall(r"sudo -H -S -n +-u root /bin/sh -c \S*'echo BECOME-SUCCESS-\w+ ; (\S+?)'", out)
    assert become and set(become) == {REMOTE_PYTHON}, become
    assert "AnsiballZ" not in out
    assert "StrictHostKeyChecking=no" not in out
    logins = server.logins()
    assert set(logins) == set(server.addresses), f"public-key logins per address in {server.log_path}: {logins}"


def test_host_keys_are_checked_against_the_tests_own_known_hosts(ssh_fleet, tmp_path):
    fleet, server = ssh_fleet
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(Path(server.ssh_config).read_text().replace(server.known_hosts, str(empty)))
    control = tmp_path / "cp"  # a fresh control dir: no open connection to reuse
    control.mkdir()
    rc, out = adhoc(fleet, fleet.hosts[0].name, "true", "-e", f"ansible_ssh_common_args='-F {config}'",
                    "-e", f"ansible_control_path_dir={control}")
    assert rc != 0 and "UNREACHABLE" in out, out[-3000:]
    assert "Host key verification failed" in out, out[-3000:]
    assert empty.read_text() == "", "ssh wrote to the known_hosts file it was given"


def test_rolling_over_ssh_under_load_fails_no_request(ssh_fleet):
    fleet, server = ssh_fleet
    artifact = fleet.build_release("v2")
    # each batch watched on lb1's counters at the default window, in the module run that gives it its traffic back
    extra = {**{k: v for k, v in FAST.items() if k != "deploy_batch_observe_seconds"},
             "deploy_version": "v2", "deploy_artifact": str(artifact.path), "deploy_checksum": artifact.checksum}
    with fleet.load() as load:
        run = run_playbook(fleet, "deploy", extra)
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert run.output.count("Give the batch back its HAProxy state and weight, then watch it serve users") == 2, \
        run.output[-3000:]
    assert report.total > 200, f"too little traffic to prove anything: {report}"
    assert report.failed == 0, f"users saw failures during the rollout: {report}"
    assert "v2" in report.versions, report
    assert re.search(r"changed: \[app\d+ -> lb1\(127\.0\.0\.1\)\]", run.output), "LB work did not go to lb1 over SSH"
    login = pwd.getpwnam(server.user)
    for host in fleet.hosts:
        assert host.version() == "v2", host.name
        assert host.current_target() == "releases/v2", host.name
        assert (Path(host.root) / "releases" / "v1").is_dir(), f"v1 gone from {host.name}"
        assert history(host)[-1]["version"] == "v2" and history(host)[-1]["status"] == "succeeded"
        # written over an SSH login as an unprivileged account into a root-only tree: only become can do that
        root = os.stat(host.root)
        assert root.st_uid == 0 and not root.st_mode & stat.S_IWOTH and root.st_uid != login.pw_uid
        release = Path(host.root) / "releases" / "v2"
        assert release.stat().st_uid == 0 and (release / "app.py").stat().st_uid == 0, host.name
    lb = fleet.haproxy.server_states()
    assert {s["admin"] for s in lb.values()} == {"ready"}, lb
    assert {s["weight"] for s in lb.values()} == {100}, lb
    assert set(server.logins()) == set(server.addresses)


def test_canary_over_ssh_under_load_is_promoted(ssh_fleet):
    fleet, server = ssh_fleet
    served = set(fleet.versions().values())
    assert len(served) == 1 and "v3" not in served, f"the canary starts from one release, the fleet serves {served}"
    before = lb_view(fleet)
    with fleet.load() as load:
        run = timed_deploy(fleet, "v3", deploy_canary_steps=[25, 50], deploy_canary_probe_path="/", **CANARY)
    report = load.snapshot()
    assert run.rc == 0, run.output[-3000:]
    assert report.failed == 0, report
    verdicts = re.findall(r"canary step (\d) \((\d+)%\): (\w+)", run.output)
    assert verdicts == [("1", "25", "pass"), ("2", "50", "pass")], verdicts
    assert "v3" in report.versions, report
    assert set(fleet.versions().values()) == {"v3"}
    for host in fleet.hosts:
        assert host.current_target() == "releases/v3"
        assert history(host)[-1]["status"] == "succeeded"
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
    assert set(server.logins()) == set(server.addresses)
