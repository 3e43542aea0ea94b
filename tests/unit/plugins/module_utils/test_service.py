# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service control: the commands sent, the answers understood, the waiting bounded."""

from __future__ import annotations

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.service.manager import Service, ServiceError


class Manager:
    """Answers supervisorctl/systemctl command lines from a script of outputs, recording each call."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, argv):
        self.calls.append(argv)
        verb = argv[-2]
        answer = self.answers[verb]
        return answer.pop(0) if isinstance(answer, list) else answer


def supervisor(answers):
    manager = Manager(answers)
    return Service("supervisor", "shop", manager, supervisorctl=["supervisorctl", "-c", "/etc/sv.conf"]), manager


def test_restart_trusts_supervisors_started_and_asks_nothing_more():
    service, manager = supervisor({"restart": (0, "shop: stopped\nshop: started\n", "")})
    assert service.ensure("restarted", timeout=5) == (True, "RUNNING")
    assert manager.calls == [["supervisorctl", "-c", "/etc/sv.conf", "restart", "shop"]]


def test_start_that_found_it_already_started_waits_until_supervisor_reports_running():
    service, manager = supervisor({
        "start": (0, "shop: ERROR (already started)\n", ""),
        "status": [(3, "shop    STOPPED\n", ""), (3, "shop    STARTING\n", ""),
                   (0, "shop    RUNNING   pid 42, uptime 0:00:01\n", "")],
    })
    assert service.ensure("started", timeout=5) == (True, "RUNNING")
    assert [call[-2] for call in manager.calls] == ["status", "start", "status", "status"]


def test_first_start_through_restart_accepts_not_running():
    service = supervisor({"restart": (0, "shop: ERROR (not running)\nshop: started\n", ""),
                          "status": (0, "shop RUNNING pid 1\n", "")})[0]
    assert service.ensure("restarted", timeout=1)[1] == "RUNNING"


def test_a_release_that_cannot_start_fails_with_supervisors_words():
    service = supervisor({"restart": (7, "shop: stopped\nshop: ERROR (spawn error)\n", "")})[0]
    with pytest.raises(ServiceError, match=r"restart shop did not start it: shop: ERROR \(spawn error\)"):
        service.ensure("restarted", timeout=1)


def test_waiting_gives_up_at_once_when_supervisor_did():
    service, manager = supervisor({"status": [(3, "shop STARTING\n", ""), (3, "shop FATAL Exited too quickly\n", "")]})
    with pytest.raises(ServiceError, match="shop is not running after 30s: FATAL"):
        service.wait_running(30, sleep=lambda s: None)
    assert [call[-2] for call in manager.calls] == ["status", "status"]


def test_waiting_is_bounded_by_the_timeout():
    now = [0.0]
    service = supervisor({"status": (3, "shop STARTING\n", "")})[0]
    with pytest.raises(ServiceError, match="not running after 1s: STARTING"):
        service.wait_running(1, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert now[0] >= 1


def test_started_and_stopped_change_only_when_needed():
    service, manager = supervisor({"status": (0, "shop RUNNING pid 1\n", "")})
    assert service.ensure("started", timeout=1) == (False, "RUNNING")
    service, manager = supervisor({"status": [(0, "shop RUNNING pid 1\n", ""), (3, "shop STOPPED\n", "")],
                                   "stop": (0, "shop: stopped\n", "")})
    assert service.ensure("stopped", timeout=1) == (True, "STOPPED")


def test_check_mode_sends_no_command_that_changes_anything():
    service, manager = supervisor({"status": (3, "shop STOPPED\n", "")})
    assert service.ensure("started", timeout=1, check_mode=True) == (True, None)
    assert service.ensure("restarted", timeout=1, check_mode=True) == (True, None)
    assert {call[-2] for call in manager.calls} == {"status"}


def test_an_unreachable_supervisord_is_named():
    service = supervisor({"status": (4, "unix:///run/sv.sock no such file\n", "")})[0]
    with pytest.raises(ServiceError, match="supervisor does not report program shop: unix:///run/sv.sock no such file"):
        service.ensure("started", timeout=1)


def test_systemd_restart_waits_for_active():
    manager = Manager({"restart": (0, "", ""), "is-active": [(3, "activating\n", ""), (0, "active\n", "")]})
    service = Service("systemd", "shop.service", manager)
    assert service.ensure("restarted", timeout=5) == (True, "active")
    assert manager.calls[0] == ["systemctl", "restart", "shop.service"]


def test_systemd_failure_is_reported():
    manager = Manager({"restart": (1, "", "Job for shop.service failed because the control process exited\n")})
    with pytest.raises(ServiceError, match="systemctl restart shop.service failed: Job for shop.service failed"):
        Service("systemd", "shop.service", manager).ensure("restarted", timeout=5)


@pytest.mark.parametrize("manager, name, message", [
    ("upstart", "shop", "service manager 'upstart' is not supported: expected one of systemd, supervisor"),
    ("systemd", "", "service name is empty"),
])
def test_bad_input_is_named(manager, name, message):
    with pytest.raises(ServiceError, match=message):
        Service(manager, name, Manager({}))


def test_a_supervisorctl_command_line_supervisorctl_would_refuse_is_refused_before_anything_runs():
    manager = Manager({})
    with pytest.raises(ServiceError, match="supervisorctl would refuse its command line: option -x not recognized"):
        Service("supervisor", "shop", manager, supervisorctl=["supervisorctl", "-x", "-p", "pw"])
    assert manager.calls == []


def test_a_password_supervisorctl_cannot_be_given_fails_naming_the_command_not_the_password(tmp_path):
    manager = Manager({"status": (0, "shop RUNNING\n", "")})
    supervisorctl = ["supervisorctl", "-c", str(tmp_path / "none.conf"), "-p", "pw"]
    service = Service("supervisor", "shop", manager, supervisorctl=supervisorctl)
    with pytest.raises(ServiceError) as refused:
        service.ensure("started", timeout=1)
    assert str(refused.value).startswith("cannot run supervisorctl status shop: cannot read the supervisorctl "
                                         "configuration %s: " % (tmp_path / "none.conf"))
    assert "pw" not in str(refused.value).split() and manager.calls == []
