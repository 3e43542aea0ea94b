# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two HAProxy hosts in group lb (lb1, lb2), each with its own admin socket set in its own host variables:
every drain, weight and restore goes to both, under load through both front doors."""

from __future__ import annotations

import os
import re
import sys

import pytest
import yaml
from conftest import host_state, run_playbook
from helpers import FAST, deploy, ensure

from fleet.haproxy import HAProxy, runtime_command
from fleet.load import LoadGenerator
from fleet.procs import free_port
from fleet.sshd import SSHServer

FLEET_HOSTS = 3


@pytest.fixture(scope="module")
def lb2(fleet):
    """A second HAProxy in front of the same servers, and an inventory that puts it in group lb."""
    haproxy = HAProxy(os.path.join(fleet.workdir, "lb2"), [(h.name, h.address, h.port) for h in fleet.hosts], free_port())
    haproxy.start()
    try:
        yield haproxy
    finally:
        haproxy.stop()


def lb_inventory(path, **lb_hosts):
    """An inventory adding ``lb_hosts`` (name -> admin socket) to group lb."""
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                    "deploy_haproxy_socket": socket} for name, socket in lb_hosts.items()}
    path.write_text(yaml.safe_dump({"lb": {"hosts": hosts}}))
    return ("-i", str(path))


def view(haproxy):
    return {name: (s["admin"], s["weight"]) for name, s in haproxy.server_states().items()}


def delegated(run, lb_host):
    """The task results sent to ``lb_host`` (loop items of tasks delegated to it)."""
    return re.findall(r"^(?:ok|changed): \[\w+ -> %s\] => \(item=%s[^)]*\)" % (lb_host, lb_host), run.output, re.M)


def test_a_rolling_deployment_at_its_defaults_drains_and_restores_on_every_lb_host(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    lb2.wait_servers("UP")
    before = {"lb1": view(fleet.haproxy), "lb2": view(lb2)}
    with fleet.load() as load1, LoadGenerator(lb2.frontend_url, concurrency=2, pause=0.02) as load2:
        # each batch watched on the counters for the default 3 s, which FAST turns off elsewhere
        run = deploy(fleet, "v2", args=lb_inventory(tmp_path / "lb2.yml", lb2=lb2.socket), deploy_batch_observe_seconds=3)
    assert run.rc == 0, run.output[-3000:]
    assert fleet.versions() == {h.name: "v2" for h in fleet.hosts}
    # each batch given back on lb2, then on lb1, where it is watched once both serve it
    watched = re.findall(r"TASK \[lastmile\.deploy\.traffic : Give the batch back its HAProxy state and weight, then watch it "
                         r"serve users, then take the next batch out\][^\n]*\nchanged: \[\w+ -> lb2\] => \(item=lb2\)\nchanged: \[\w+ -> lb1\] => \(item=lb1\)",
                         run.output)
    assert len(watched) == FLEET_HOSTS, run.output[-3000:]
    # every host drained and given back on lb2 as well: the first batch's drain, then each batch's traffic back,
    # which takes the next batch out in the same module run
    changes = [line for line in delegated(run, "lb2") if line.startswith("changed")]
    assert len(changes) == 1 + FLEET_HOSTS, run.output[-3000:]
    assert {"lb1": view(fleet.haproxy), "lb2": view(lb2)} == before
    for report in (load1.snapshot(), load2.snapshot()):
        assert report.failed == 0 and report.ok > 0, report.summary()


def test_a_failed_release_gives_every_lb_host_back_its_state(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    lb2.wait_servers("UP")
    before = {"lb1": view(fleet.haproxy), "lb2": view(lb2)}
    run = deploy(fleet, "v3", mode="unhealthy", args=lb_inventory(tmp_path / "lb2.yml", lb2=lb2.socket),
                 deploy_health_timeout=3)
    assert run.rc != 0
    assert "rolled back" in run.output, run.output[-3000:]
    assert fleet.versions() == {h.name: "v1" for h in fleet.hosts}
    fleet.wait_lb(status="UP")
    lb2.wait_servers("UP")
    assert {"lb1": view(fleet.haproxy), "lb2": view(lb2)} == before


def test_lb_hosts_that_disagree_stop_the_run_before_any_change(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    server = fleet.hosts[1].name
    runtime_command(lb2.socket, "set weight sample/%s 50" % server)
    try:
        before = host_state(fleet)
        run = deploy(fleet, "v4", args=lb_inventory(tmp_path / "lb2.yml", lb2=lb2.socket))
        assert run.rc != 0
        assert ('The load balancers disagree, nothing was changed: server "%s" is ready/100 on lb1 but ready/50 on lb2'
                % server) in run.output, run.output[-3000:]
        assert host_state(fleet) == before
        assert view(lb2)[server] == ("ready", 50)
    finally:
        runtime_command(lb2.socket, "set weight sample/%s 100" % server)


def test_an_lb_host_that_cannot_be_read_or_is_not_in_the_inventory_is_named_and_nothing_changes(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    before = host_state(fleet)
    missing = str(tmp_path / "no-such.sock")
    run = deploy(fleet, "v5", args=lb_inventory(tmp_path / "lb3.yml", lb3=missing))
    assert run.rc != 0
    assert "The load balancer could not be read, nothing was changed: lb3: " in run.output, run.output[-3000:]
    assert missing in run.output
    typo = deploy(fleet, "v5", deploy_lb_hosts=["lb1", "lb-1"])
    assert typo.rc != 0
    assert "deploy_lb_hosts ['lb1', 'lb-1']: lb-1 is not in the inventory" in typo.output, typo.output[-3000:]
    assert host_state(fleet) == before


def test_the_deprecated_deploy_lb_host_still_names_the_one_lb_host_and_says_so(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    lb2_before = view(lb2)
    run = deploy(fleet, "v6", args=lb_inventory(tmp_path / "lb2.yml", lb2=lb2.socket), deploy_lb_host="lb1")
    assert run.rc == 0, run.output[-3000:]
    assert "deploy_lb_host is deprecated: use deploy_lb_hosts instead" in " ".join(run.output.split())
    assert fleet.versions() == {h.name: "v6" for h in fleet.hosts}
    assert delegated(run, "lb2") == [] and delegated(run, "lb1")
    assert view(lb2) == lb2_before


def test_deploy_lb_host_and_deploy_lb_hosts_together_are_refused(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    before = host_state(fleet)
    run = deploy(fleet, "v7", deploy_lb_host="lb1", deploy_lb_hosts=["lb1"])
    assert run.rc != 0
    assert "deploy_lb_host and deploy_lb_hosts are both set: set deploy_lb_hosts only" in run.output, run.output[-3000:]
    assert host_state(fleet) == before


def test_an_lb_host_lost_mid_rollout_fails_the_batch_and_no_app_host_drops_out(fleet, lb2, tmp_path):
    ensure(fleet, "v1")
    lb2.wait_servers("UP")
    before = {"lb1": view(fleet.haproxy), "lb2": view(lb2)}
    first = fleet.hosts[0].name
    server = SSHServer(["127.0.0.1"])
    seen = {"task": "", "cut": False}

    def cut_lb2_off(line):
        # once the first batch has its traffic back on lb2, lb2 stops answering (sshd and its sessions gone)
        if line.startswith("TASK ["):
            seen["task"] = line
        if not seen["cut"] and "Give the batch back" in seen["task"] and line.startswith("changed: [%s -> lb2" % first):
            server.stop(remove_workdir=False)
            seen["cut"] = True

    artifact = fleet.build_release("v6")
    try:
        server.start()
        inventory = tmp_path / "lb2.yml"
        inventory.write_text(yaml.safe_dump({"lb": {"hosts": {"lb2": {
            **server.host_vars("lb2", None), "deploy_haproxy_socket": lb2.socket}}}}))
        run = run_playbook(fleet, "deploy", {**FAST, "deploy_version": "v6", "deploy_artifact": str(artifact.path),
                                             "deploy_checksum": artifact.checksum}, "-i", str(inventory),
                           on_line=cut_lb2_off)
    finally:
        server.stop()
    assert seen["cut"], run.output[-3000:]
    assert run.rc != 0
    assert run.rc != 0
    first, second = (host.name for host in fleet.hosts[:2])
    # batch 1 had its traffic back on lb2 and took batch 2 out there in the same module run, then lb2 was cut off:
    # batch 2 switched, could not get its traffic back on lb2 and fails, and no app host drops out for an LB host
    assert re.search(r"^failed: \[%s -> lb2[^]]*\] \(item=lb2\) => .*unreachable: " % second, run.output, re.M), \
        run.output[-3000:]
    assert all(counts["unreachable"] == 0 for counts in run.recap.values()), run.recap
    assert not any(state["lock"] for name, state in host_state(fleet).items() if name != "lb")
    # no host is switched back while lb2, which cannot drain it, may still send it requests: the run says so and
    # names every host's release
    said = re.sub(r"\s+", " ", run.output)
    for host in (first, second):
        assert ("%s: Stop when the batch could not be drained (release v1): draining %s in HAProxy failed: lb2: "
                "unreachable: " % (host, host)) in said, run.output[-3000:]
    assert "did not leave every host on one known release" in said, run.output[-3000:]
    assert fleet.versions() == {first: "v6", second: "v6", **{h.name: "v1" for h in fleet.hosts[2:]}}
    fleet.wait_lb(status="UP")
    assert view(fleet.haproxy) == before["lb1"]
    # lb2 keeps what it had when it was cut off: batch 1 back, batch 2 drained
    assert view(lb2) == {**before["lb2"], second: ("drain", before["lb2"][second][1])}
