# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_min_healthy at its default (every server but one batch's): a server already down stops the run before any
change, naming it and the numbers; a lower floor lets the run go on and names it; a server lost during the run stops
the next batch before its drain, and the run is rolled back."""

from __future__ import annotations

import re
import time

import pytest
from conftest import host_state
from helpers import deploy, ensure

FLEET_HOSTS = 3

# after_verify hook of the first batch: the last host's program stops, and the hook waits until HAProxy sees it down
STOP_LAST = """---
- name: Stop the program of {last}
  ansible.builtin.command: {supervisorctl} stop sample
  delegate_to: localhost
  changed_when: true
  when: inventory_hostname == '{first}'

- name: Wait until HAProxy sees {last} down
  lastmile.deploy.haproxy_info:
    socket: "{{{{ deploy_haproxy_socket }}}}"
    backend: "{{{{ deploy_haproxy_backend }}}}"
  delegate_to: localhost
  register: hook_lb
  until: hook_lb.servers['{last}'].status is match('DOWN')
  retries: 50
  delay: 0.2
  when: inventory_hostname == '{first}'
"""


@pytest.fixture
def last_down(fleet):
    """The fleet on v1, the last host's program stopped and seen DOWN by HAProxy; started again afterwards."""
    ensure(fleet, "v1")
    last = fleet.hosts[-1]
    last._rpc("stopProcess", "sample")
    fleet.wait_lb(status="DOWN", hosts=[last.name])
    yield last
    if last.status() != "RUNNING":
        last._rpc("startProcess", "sample")
    fleet.wait_lb(status="UP")


def said(run):
    return re.sub(r"\s+", " ", run.output)


def test_a_server_already_down_stops_the_run_before_any_change(fleet, last_down):
    first, second, last = (h.name for h in fleet.hosts)
    before = host_state(fleet)
    with fleet.load() as load:
        run = deploy(fleet, "v2")
    assert run.rc != 0, run.output[-3000:]
    assert host_state(fleet) == before, "a refused run changed hosts or the LB"
    assert load.snapshot().failed == 0, load.snapshot().summary()
    text = said(run)
    for batch, (taken, left) in enumerate([(first, second), (second, first)], 1):
        assert (f"batch {batch}: taking {taken} out would leave 1 of 3 servers serving ({left}), fewer than the 2 that "
                f"must keep serving (not serving now: {last} DOWN)") in text, run.output[-3000:]
    # the batch of the host that is down takes nothing away
    assert "batch 3:" not in text
    assert "deploy_min_healthy is every server but the largest batch (2 of the 3 servers" in text


def test_a_lower_floor_lets_the_run_go_on_and_names_the_server_down(fleet, last_down):
    last = last_down.name
    with fleet.load() as load:
        run = deploy(fleet, "v3", deploy_min_healthy=1)
    assert run.rc == 0, run.output[-3000:]
    assert load.snapshot().failed == 0, load.snapshot().summary()
    assert set(fleet.versions().values()) == {"v3"}  # the host that was down runs it too
    assert f"2 of 3 servers serve before the run; not serving: {last} DOWN. At least 1 keep serving in every batch." \
        in said(run), run.output[-3000:]


def test_a_server_lost_during_the_run_stops_the_next_batch_before_its_drain(fleet, tmp_path):
    ensure(fleet, "v1")
    first, second, last = fleet.hosts
    hook = tmp_path / "stop_last.yml"
    hook.write_text(STOP_LAST.format(first=first.name, last=last.name, supervisorctl=last.supervisorctl))
    try:
        with fleet.load() as load:
            started = time.monotonic()
            run = deploy(fleet, "v4", deploy_drain_timeout=3, deploy_hooks={"after_verify": [str(hook)]})
            took = time.monotonic() - started
        assert run.rc != 0, run.output[-3000:]
        # the program stopped under traffic drops what it was answering; the run itself drops nothing
        assert load.snapshot().failed <= 2, load.snapshot().summary()
        text = said(run)
        assert (f"backend 'sample': taking {second.name} out would leave 1 of 3 servers serving ({first.name}), fewer "
                f"than the 2 that must keep serving (not serving now: {last.name} DOWN); waited 3s, nothing was changed"
                in text), run.output[-3000:]
        assert f"Restored: {first.name} -> v1" in text, run.output[-3000:]
        # the second host was never taken out; the first is back on v1 and serving
        assert fleet.versions()[first.name] == "v1" and fleet.versions()[second.name] == "v1"
        lb = fleet.haproxy.server_states()
        assert (lb[first.name]["admin"], lb[second.name]["admin"]) == ("ready", "ready"), lb
        assert took > 3
    finally:
        last._rpc("startProcess", "sample")
        fleet.wait_lb(status="UP")


def test_a_rollback_is_not_held_back_by_a_server_already_down(fleet):
    """Undoing a deployment is what restores service: the floor does not stop it, and the host that was down
    comes back on the release rolled back to."""
    from conftest import run_playbook
    from helpers import FAST

    ensure(fleet, "v5", "v6")
    last = fleet.hosts[-1]
    last._rpc("stopProcess", "sample")
    fleet.wait_lb(status="DOWN", hosts=[last.name])
    try:
        with fleet.load() as load:
            run = run_playbook(fleet, "rollback", {**FAST})
        assert run.rc == 0, run.output[-3000:]
        assert load.snapshot().failed == 0, load.snapshot().summary()
        assert set(fleet.versions().values()) == {"v5"}
        assert "Too few servers would keep serving" not in run.output
    finally:
        if last.status() != "RUNNING":
            last._rpc("startProcess", "sample")
        fleet.wait_lb(status="UP")
