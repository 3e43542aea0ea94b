# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue-green with two hosts in the idle colour: one that fails its verification keeps the traffic
on the live colour, although the other host of its colour passed (blue = app1, green = app2, app3)."""

from __future__ import annotations

from helpers import deploy, ensure, lb_view

FLEET_HOSTS = 3

SHIFT_TASK = "TASK [lastmile.deploy.traffic : Shift traffic in HAProxy]"


def test_one_failed_host_of_the_idle_colour_keeps_the_traffic_on_the_live_colour(fleet, tmp_path):
    blue, green = [fleet.hosts[0].name], [h.name for h in fleet.hosts[1:]]
    colours = tmp_path / "colours.yml"
    colours.write_text("blue:\n  hosts:\n    %s: {}\ngreen:\n  hosts:\n" % blue[0] + "".join("    %s: {}\n" % h for h in green))
    ensure(fleet, "v1")
    before = lb_view(fleet)
    failing = green[1]
    run = deploy(fleet, "v2", args=("-i", str(colours)), deploy_strategy="blue_green", deploy_health_timeout=3,
                 deploy_health_url="http://{{ ansible_host }}:{{ deploy_port }}"
                                   "{{ '/no-such-path' if inventory_hostname == '%s' else '/health' }}" % failing)
    assert run.rc != 0
    assert f"{failing} of the idle colour failed: traffic stays on the live colour" in run.output, run.output[-3000:]
    # the healthy host of the idle colour never sent the shift
    shifts = [part.split("\nTASK [", 1)[0] for part in run.output.split(SHIFT_TASK)[1:]]
    assert not any("changed: [" in part for part in shifts), shifts
    assert fleet.versions() == {host.name: "v1" for host in fleet.hosts}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before


def test_a_hook_failing_on_one_host_of_the_idle_colour_keeps_the_traffic_on_the_live_colour(fleet, tmp_path):
    blue, green = [fleet.hosts[0].name], [h.name for h in fleet.hosts[1:]]
    colours = tmp_path / "colours.yml"
    colours.write_text("blue:\n  hosts:\n    %s: {}\ngreen:\n  hosts:\n" % blue[0] + "".join("    %s: {}\n" % h for h in green))
    hook = tmp_path / "hook.yml"
    hook.write_text("- name: Refuse on one host\n  ansible.builtin.fail:\n    msg: not this one\n"
                    "  when: inventory_hostname == '%s'\n" % green[1])
    ensure(fleet, "v1")
    before = lb_view(fleet)
    run = deploy(fleet, "v3", args=("-i", str(colours)), deploy_strategy="blue_green",
                 deploy_hooks={"after_switch": [str(hook)]})
    assert run.rc != 0
    assert "after_switch hook, task 'Refuse on one host': not this one" in run.output, run.output[-3000:]
    shifts = [part.split("\nTASK [", 1)[0] for part in run.output.split(SHIFT_TASK)[1:]]
    assert not any("changed: [" in part for part in shifts), shifts
    assert fleet.versions() == {host.name: "v1" for host in fleet.hosts}
    fleet.wait_lb(status="UP")
    assert lb_view(fleet) == before
