# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lastmile.deploy.haproxy_server against a real HAProxy."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.modules import haproxy_server
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures import run_module
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.closing_peer import ClosingPeer
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, started_lab  # noqa: F401 pylint: disable=unused-import

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)


@pytest.fixture
def lab(started_lab):
    started_lab.reset()
    return started_lab


def run(lab, check_mode=False, diff=False, **args):
    return run_module.in_process(haproxy_server.main, dict(args, socket=lab.admin_socket), check_mode, diff)


def test_check_mode_reports_and_changes_nothing(lab):
    before = lab.state()
    result = run(lab, check_mode=True, diff=True, backend="app", name=["web1", "web2"], state="drain", weight=4)
    assert result["changed"] is True
    assert result["commands"] == []
    assert lab.state() == before
    assert result["diff"] == {
        "before": {"web1": {"admin": "ready", "weight": 10}, "web2": {"admin": "ready", "weight": 20}},
        "after": {"web1": {"admin": "drain", "weight": 4}, "web2": {"admin": "drain", "weight": 4}},
    }
    assert result["servers"]["web1"]["admin"] == "drain"


def test_apply_then_apply_again_is_unchanged(lab):
    first = run(lab, diff=True, backend="app", name="web1", state="drain")
    assert first["changed"] is True
    assert first["commands"] == ["set server app/web1 state drain"]
    assert first["diff"] == {
        "before": {"web1": {"admin": "ready", "weight": 10}},
        "after": {"web1": {"admin": "drain", "weight": 10}},
    }
    assert lab.state()["web1"] == (0x08, 10)
    assert first["servers"]["web1"]["status"] == "DRAIN"
    assert sorted(first["servers"]) == ["web1", "web2", "web3", "web4"]

    second = run(lab, diff=True, backend="app", name="web1", state="drain")
    assert (second["changed"], second["commands"]) == (False, [])
    assert second["diff"]["before"] == second["diff"]["after"] == {"web1": {"admin": "drain", "weight": 10}}

    check_again = run(lab, check_mode=True, backend="app", name="web1", state="drain")
    assert check_again["changed"] is False


def test_ready_with_weight_sets_weight_first_and_waits_up(lab):
    run(lab, backend="app", server="web1", state="maint")
    result = run(lab, backend="app", names=["web1"], state="ready", weight=50, wait_timeout=5)
    assert result["commands"] == ["set server app/web1 weight 50", "set server app/web1 state ready"]
    assert result["servers"]["web1"]["up"] is True
    assert result["servers"]["web1"]["status"].startswith("UP")
    assert lab.state()["web1"] == (0, 50)


def test_weights_without_name(lab):
    result = run(lab, backend="app", weights={"web1": 5, "web2": "30"})
    assert result["changed"] is True
    assert result["commands"] == ["set server app/web1 weight 5", "set server app/web2 weight 30"]
    assert (lab.state()["web1"], lab.state()["web2"]) == ((0, 5), (0, 30))


def test_maint_waits_for_the_request_in_flight(lab):
    run(lab, backend="app", name="web1", state="maint")
    reply = {}
    worker = threading.Thread(target=lambda: reply.update(result=lab.request("/slow?seconds=0.8")))
    worker.start()
    deadline = time.monotonic() + 5
    while lab.send("show stat").count("app,web2,0,0,1,") == 0:
        assert time.monotonic() < deadline, "the slow request never reached web2"
        time.sleep(0.02)
    result = run(lab, backend="app", name="web2", state="maint", wait_timeout=5)
    returned_at = time.monotonic()
    worker.join()
    assert result["servers"]["web2"]["sessions"] == 0
    assert reply["result"] == (200, "web2")
    assert lab.apps["web2"].slow_finished[-1] <= returned_at


def test_drain_of_down_server_does_not_hang(lab):
    started = time.monotonic()
    result = run(lab, backend="app", name="web3", state="drain", wait_timeout=10)
    assert result["changed"] is True and time.monotonic() - started < 2


def test_wait_up_timeout_fails_naming_server(lab):
    result = run(lab, backend="app", name="web3", state="ready", wait_timeout=0.3)
    assert (result["failed"], result["changed"], result["commands"]) == (True, False, [])
    assert result["msg"] == "servers in backend 'app' not UP after 0.3s: web3 (status DOWN, check L4CON)"


def test_failed_wait_still_reports_what_was_sent(lab):
    run(lab, backend="app", name="web3", state="maint")
    result = run(lab, backend="app", name="web3", state="ready", weight=2, wait_timeout=0.3)
    assert (result["failed"], result["changed"]) == (True, True)
    assert result["commands"] == ["set server app/web3 weight 2", "set server app/web3 state ready"]
    assert "web3 (status DOWN" in result["msg"]


def test_a_drain_that_would_leave_too_few_serving_fails_and_changes_nothing(lab):
    """web1 and web2 serve; web3 is DOWN and web4 in maintenance. Draining web1 with web2 in the
    same batch would leave none of the 2 that must keep serving."""
    before = lab.state()
    result = run(lab, backend="app", name="web1", state="drain", min_serving=2, batch=["web1", "web2"],
                 wait_timeout=0.3)
    assert (result["failed"], result["changed"], result["below_min_serving"]) == (True, False, True), result
    assert result["msg"] == (
        "backend 'app': taking web1, web2 out would leave 0 of 4 servers serving (none), fewer than the 2 that must "
        "keep serving (not serving now: web3 DOWN, web4 MAINT); waited 0.3s, nothing was changed")
    assert lab.state() == before
    # check mode says the same at once, and a floor that holds lets the drain through
    checked = run(lab, check_mode=True, backend="app", name="web1", state="drain", min_serving=2, wait_timeout=30)
    assert checked["failed"] and checked["msg"].endswith("web4 MAINT); nothing was changed")
    assert run(lab, backend="app", name="web1", state="drain", min_serving=1, batch=["web1"])["changed"] is True


def test_a_drain_waits_for_enough_servers_to_serve_again(lab):
    run(lab, backend="app", name="web2", state="maint")
    back = threading.Timer(0.5, lambda: lab.send("set server app/web2 state ready"))
    back.start()
    try:
        started = time.monotonic()
        result = run(lab, backend="app", name="web1", state="drain", min_serving=1, wait_timeout=10)
    finally:
        back.join()
    assert result["changed"] is True and result["commands"] == ["set server app/web1 state drain"], result
    assert 0.4 < time.monotonic() - started < 10


def test_unknown_server_fails_and_changes_nothing(lab):
    before = lab.state()
    result = run(lab, backend="app", name=["web1", "web9"], state="maint")
    assert result["failed"] is True
    assert result["msg"] == "server 'web9' not found in backend 'app'; known servers: web1, web2, web3, web4"
    assert lab.state() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(name="web1", weight=300), "weight 300 for server 'web1' is not an integer in 0..256"),
        (dict(weights={"web1": "heavy"}), "weight 'heavy' for server 'web1' in weights is not an integer"),
        (dict(name="web1", weight=3, weights={"web1": 3}), "parameters are mutually exclusive: weight|weights"),
        (dict(state="drain"), "one of the following is required: name, weights"),
        (dict(name="web1"), "one of the following is required: state, weight, weights"),
    ],
)
def test_bad_options_fail_clearly(lab, args, message):
    before = lab.state()
    result = run(lab, backend="app", **args)
    assert result["failed"] is True
    assert message in result["msg"]
    assert lab.state() == before


def test_through_ansible_adhoc(lab):
    args = dict(socket=lab.tcp_address, backend="app", name="web2", state="drain", weight=9)
    checked = run_module.adhoc("lastmile.deploy.haproxy_server", args, check_mode=True)
    assert (checked["changed"], checked["commands"]) == (True, [])
    assert lab.state()["web2"] == (0, 20)
    applied = run_module.adhoc("lastmile.deploy.haproxy_server", args)
    assert applied["changed"] is True
    assert applied["commands"] == ["set server app/web2 state drain", "set server app/web2 weight 9"]
    assert lab.state()["web2"] == (0x08, 9)
    failed = run_module.adhoc("lastmile.deploy.haproxy_server", dict(args, name="nope"))
    assert failed["msg"] == "server 'nope' not found in backend 'app'; known servers: web1, web2, web3, web4"


# --- HAProxy hangs up between applying a change and answering (a reload) ---------------------------

CHANGE = dict(backend="app", name="web1", state="drain", weight=4)
SENT = ["set server app/web1 state drain", "set server app/web1 weight 4"]
SENT_LINE = "set server app/web1 state drain; set server app/web1 weight 4; show servers state app; show stat\n"


def through(path, address, args):
    """(failed, result): main() in this process, or the ansible CLI (the action plugin's in-process path)."""
    args = dict(args, socket=address)
    if path == "module":
        result = run_module.in_process(haproxy_server.main, args)
        return result.get("failed", False), result
    rc, result = run_ansible("haproxy_server", args)
    return rc != 0, result


@pytest.mark.parametrize("path", ["module", "action"])
@pytest.mark.parametrize("mode, applied", [("apply", True), ("short", True), ("drop", False)])
def test_commands_sent_before_haproxy_hangs_up_are_reported_with_the_failed_read_back(lab, path, mode, applied):
    with ClosingPeer(lab.admin_socket, mode) as peer:
        failed, result = through(path, peer.address, CHANGE)
    assert peer.hung_up == [SENT_LINE]
    assert (failed, result["changed"], result["commands"]) == (True, True, SENT), result
    assert result["msg"].startswith("sent %s to HAProxy at %s, then reading backend 'app' back failed: "
                                    % ("; ".join(SENT), peer.address)), result["msg"]
    assert "HAProxy may have applied them" in result["msg"]
    # what the message warns of: HAProxy did apply them unless the peer dropped the line
    assert lab.state()["web1"] == ((0x08, 4) if applied else (0, 10))


@pytest.mark.parametrize("path", ["module", "action"])
def test_a_connection_refused_before_the_change_reports_nothing_sent(lab, path):
    with ClosingPeer(lab.admin_socket, "refuse") as peer:
        failed, result = through(path, peer.address, CHANGE)
    assert peer.hung_up == []
    assert (failed, result["changed"], result["commands"]) == (True, False, []), result
    assert result["msg"].startswith("cannot connect to HAProxy socket %s: " % peer.address), result["msg"]
    assert lab.state()["web1"] == (0, 10)
