# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_hooks: the user's task files at each phase, in order, with what each phase promises (the host out of the
load balancer before its switch, on the new release after it); a failing hook rolls back; a bad one is refused
before the lock; without hooks, no task of theirs runs."""

from __future__ import annotations

import pytest
from conftest import host_state
from helpers import deploy, ensure, lb_view

FLEET_HOSTS = 2

# One task file for every phase: writes the phase, the host, the release `current` points at and the host's
# admin state in HAProxy, as the hook sees them.
RECORD = """---
- name: Read the load balancer
  lastmile.deploy.haproxy_info:
    socket: "{{{{ deploy_haproxy_socket }}}}"
    backend: "{{{{ deploy_haproxy_backend }}}}"
  delegate_to: localhost
  register: hook_lb

- name: Write down the phase
  ansible.builtin.shell: >-
    echo "{{{{ deploy_hook_phase }}}} {{{{ inventory_hostname }}}} $(basename "$(readlink {{{{ deploy_root }}}}/current)")
    {{{{ hook_lb.servers[deploy_lb_name].admin }}}} {{{{ deploy_release_target }}}}" >> {log}
  changed_when: false
"""

FAIL = """---
- name: Fail on purpose
  ansible.builtin.fail:
    msg: "hook says no at {{ deploy_hook_phase }}"
"""

PHASES = ["after_stage", "once_before_switch", "before_switch", "after_switch", "after_verify", "once_after"]


@pytest.fixture
def hooks(tmp_path):
    log = tmp_path / "hooks.log"
    record = tmp_path / "record.yml"
    record.write_text(RECORD.format(log=log))
    fail = tmp_path / "fail.yml"
    fail.write_text(FAIL)
    return {"log": log, "record": str(record), "fail": str(fail)}


def lines(log):
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("strategy", ["rolling", "recreate"])
def test_every_phase_runs_where_it_promises(fleet, hooks, strategy):
    ensure(fleet, "v1")
    names = [h.name for h in fleet.hosts]
    with fleet.load() as load:
        run = deploy(fleet, "v2", deploy_strategy=strategy,
                     deploy_hooks={phase: [hooks["record"]] for phase in PHASES + ["on_rollback"]})
    assert run.rc == 0, run.output[-3000:]
    assert fleet.versions() == {name: "v2" for name in names}
    if strategy == "rolling":
        assert load.snapshot().failed == 0, load.snapshot()
    seen = lines(hooks["log"])
    by_phase = {phase: sorted(entry[1] for entry in seen if entry[0] == phase) for phase in PHASES}
    assert by_phase == {"after_stage": names, "once_before_switch": [names[0]], "before_switch": names,
                        "after_switch": names, "after_verify": names, "once_after": [names[0]]}, seen
    assert not [entry for entry in seen if entry[0] == "on_rollback"]
    for phase, host, current, admin, target in seen:
        assert target == "v2", (phase, host)
        # before the switch on v1; out of the load balancer from the drain until the traffic comes back
        assert current == ("v1" if phase in ("after_stage", "once_before_switch", "before_switch") else "v2"), seen
        assert admin == ("drain" if phase in ("before_switch", "after_switch", "after_verify") else "ready"), seen
    order = [entry[0] for entry in seen]
    assert order.index("once_before_switch") > max(i for i, phase in enumerate(order) if phase == "after_stage")
    assert order.index("once_before_switch") < order.index("before_switch")
    assert order[-1] == "once_after"
    for host in names:
        mine = [entry[0] for entry in seen if entry[1] == host and entry[0] in ("before_switch", "after_switch", "after_verify")]
        assert mine == ["before_switch", "after_switch", "after_verify"], seen


def test_a_failing_once_after_hook_rolls_every_host_back_and_runs_on_rollback(fleet, hooks):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = deploy(fleet, "v3", deploy_hooks={"once_after": [hooks["fail"]], "on_rollback": [hooks["record"]]})
    assert run.rc != 0
    assert "once_after hook, task 'Fail on purpose': hook says no at once_after" in run.output, run.output[-3000:]
    assert "was rolled back" in run.output
    assert fleet.versions() == {h.name: "v1" for h in fleet.hosts}
    seen = lines(hooks["log"])
    # each host runs on_rollback once it is back on v1 and has its traffic back
    assert sorted((entry[0], entry[1], entry[2], entry[3]) for entry in seen) == [
        ("on_rollback", h.name, "v1", "ready") for h in fleet.hosts]
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_a_failing_once_before_switch_hook_switches_nothing(fleet, hooks):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = deploy(fleet, "v4", deploy_hooks={"once_before_switch": [hooks["fail"]], "before_switch": [hooks["record"]]})
    assert run.rc != 0
    assert "once_before_switch hook, task 'Fail on purpose': hook says no at once_before_switch" in run.output, \
        run.output[-3000:]
    assert fleet.versions() == {h.name: "v1" for h in fleet.hosts}
    assert lines(hooks["log"]) == []  # no host moved, so no before_switch
    assert lb_view(fleet) == before


def test_a_bad_hook_is_refused_before_the_lock_naming_it(fleet, hooks, tmp_path):
    ensure(fleet, "v1")
    before = host_state(fleet)
    run = deploy(fleet, "v5", deploy_hooks={"before_swich": [hooks["record"]], "after_verify": ["no/such.yml"]})
    assert run.rc != 0
    assert "deploy_hooks: 'before_swich' is not a phase; expected one of after_stage, once_before_switch" in run.output, \
        run.output[-3000:]
    assert "deploy_hooks.after_verify: task file 'no/such.yml' not found" in run.output
    assert host_state(fleet) == before


def test_without_hooks_no_hook_task_runs(fleet):
    ensure(fleet, "v1")
    run = deploy(fleet, "v6")
    assert run.rc == 0, run.output[-3000:]
    assert "Run the hooks of this phase" not in run.output and "Run no hook" not in run.output
    assert "PLAY [Roll out batch by batch, with hooks]" in run.output  # present, and skipped: no hosts matched
    assert "changed: [" in run.output.split("PLAY [Roll out batch by batch]")[1].split("PLAY [")[0]


def test_a_before_switch_hook_failing_on_one_host_of_recreate_switches_no_host(fleet, tmp_path):
    ensure(fleet, "v1")
    before = lb_view(fleet)
    victim = fleet.hosts[1].name
    hook = tmp_path / "refuse.yml"
    hook.write_text(FAIL.replace("- name: Fail on purpose\n", "- name: Fail on purpose\n  when: inventory_hostname == '%s'\n" % victim))
    run = deploy(fleet, "v7", deploy_strategy="recreate", deploy_hooks={"before_switch": [str(hook)]})
    assert run.rc != 0
    assert "before_switch hook, task 'Fail on purpose': hook says no at before_switch" in run.output, run.output[-3000:]
    fleet_move = run.output.split("PLAY [Recreate the fleet, with hooks]")[1].split("\nPLAY [")[0]
    # the switch never ran, or switched no host
    switches = [part.split("TASK [")[0] for part in fleet_move.split("Switch current and restart the service")[1:]]
    assert not any("changed:" in part for part in switches), fleet_move
    assert fleet.versions() == {h.name: "v1" for h in fleet.hosts}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
