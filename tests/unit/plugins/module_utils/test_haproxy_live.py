# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HAProxy core against a real HAProxy with unix and TCP admin sockets."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.pool import HAProxyPool
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import HAProxy, HAProxyError
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, HAProxyLab, free_port

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)


@pytest.fixture(scope="module")
def lab():
    lab = HAProxyLab().start()
    yield lab
    lab.stop()


@pytest.fixture(params=["unix", "tcp"])
def haproxy(request, lab):
    lab.reset()
    return HAProxy(lab.admin_socket if request.param == "unix" else lab.tcp_address)


def test_servers_reads_real_state(haproxy):
    servers = haproxy.servers("app")
    assert sorted(servers) == ["web1", "web2", "web3", "web4"]
    assert [(s.admin, s.up, s.weight) for s in (servers["web1"], servers["web2"])] == [
        ("ready", True, 10),
        ("ready", True, 20),
    ]
    assert (servers["web3"].status, servers["web3"].up, servers["web3"].check_status) == ("DOWN", False, "L4CON")
    assert (servers["web4"].admin, servers["web4"].status) == ("maint", "MAINT")


def test_backends_lists_every_backend(haproxy):
    backends = haproxy.backends()
    assert sorted(backends) == ["api", "app"]
    assert list(backends["api"]) == ["api1"]


def test_apply_drain_weight_maint_ready_in_one_round_trip(haproxy, lab):
    before, after = haproxy.apply(
        "app",
        {
            "web1": {"admin": "drain"},
            "web2": {"weight": 7},
            "web3": {"admin": "maint"},
            "web4": {"admin": "ready", "weight": 3},
        },
    )
    assert (before["web1"].admin, before["web2"].weight, before["web4"].admin) == ("ready", 20, "maint")
    # Read back independently: (srv_admin_state bits, user weight).
    assert lab.state() == {"web1": (0x08, 10), "web2": (0, 7), "web3": (0x01, 1), "web4": (0x04, 3)}
    assert [(after[n].admin, after[n].weight) for n in ("web1", "web2", "web3", "web4")] == [
        ("drain", 10),
        ("ready", 7),
        ("maint", 1),
        ("ready", 3),
    ]
    assert after["web1"].status == "DRAIN"
    # Same request again: nothing differs, nothing sent, same state.
    again_before, again_after = haproxy.apply("app", {"web1": {"admin": "drain"}, "web2": {"weight": 7}})
    assert again_before is again_after
    assert lab.state()["web1"] == (0x08, 10)


def test_drained_server_takes_no_new_request(haproxy, lab):
    haproxy.apply("app", {"web2": {"admin": "drain"}})
    assert {lab.request("/")[1] for request in range(6)} == {"web1"}
    haproxy.apply("app", {"web2": {"admin": "ready"}, "web1": {"admin": "maint"}})
    assert {lab.request("/")[1] for request in range(6)} == {"web2"}


def test_wait_drained_waits_for_the_request_in_flight(haproxy, lab):
    haproxy.apply("app", {"web1": {"admin": "maint"}})  # every request goes to web2
    result = {}
    worker = threading.Thread(target=lambda: result.update(reply=lab.request("/slow?seconds=1.2")))
    worker.start()
    deadline = time.monotonic() + 5
    while haproxy.servers("app")["web2"].sessions != 1:
        assert time.monotonic() < deadline, "the slow request never reached web2"
        time.sleep(0.02)
    haproxy.apply("app", {"web2": {"admin": "drain"}})
    with pytest.raises(HAProxyError, match=r"still holding sessions after 0.2s: web2 \(1 sessions, 0 queued\)"):
        haproxy.wait_drained("app", ["web2"], timeout=0.2, interval=0.05)
    servers = haproxy.wait_drained("app", ["web2"], timeout=5, interval=0.05)
    drained_at = time.monotonic()
    worker.join()
    assert servers["web2"].sessions == 0
    assert result["reply"] == (200, "web2"), "draining must not cut the request in flight"
    assert lab.apps["web2"].slow_finished and lab.apps["web2"].slow_finished[-1] <= drained_at


def test_wait_drained_on_down_server_returns_at_once(haproxy):
    haproxy.apply("app", {"web3": {"admin": "drain"}})
    started = time.monotonic()
    servers = haproxy.wait_drained("app", ["web3", "web4"], timeout=10, interval=0.05)
    assert time.monotonic() - started < 1
    assert servers["web3"].status == "DOWN"


def test_wait_up_after_maintenance(haproxy, lab):
    haproxy.apply("app", {"web1": {"admin": "maint"}})
    before, after = haproxy.apply("app", {"web1": {"admin": "ready"}})
    assert after["web1"].admin == "ready"
    servers = haproxy.wait_up("app", ["web1", "web2"], timeout=5, interval=0.05)
    assert servers["web1"].status.startswith("UP") and servers["web1"].up
    assert lab.status()["web1"].startswith("UP")


def test_wait_up_on_down_server_times_out_naming_it(haproxy):
    with pytest.raises(HAProxyError) as info:
        haproxy.wait_up("app", ["web1", "web3"], timeout=0.3, interval=0.05)
    assert str(info.value) == "servers in backend 'app' not UP after 0.3s: web3 (status DOWN, check L4CON)"


def test_unknown_server_changes_nothing(haproxy, lab):
    before = lab.state()
    with pytest.raises(HAProxyError) as info:
        haproxy.apply("app", {"web1": {"admin": "maint"}, "web9": {"admin": "maint"}})
    assert str(info.value) == "server 'web9' not found in backend 'app'; known servers: web1, web2, web3, web4"
    assert lab.state() == before


def test_unknown_backend_lists_known(haproxy):
    with pytest.raises(HAProxyError) as info:
        haproxy.servers("shop")
    assert "backend 'shop' not found in HAProxy at %s; known backends: app, api" % haproxy.address == str(info.value)


def test_unknown_command_is_refused(haproxy):
    with pytest.raises(HAProxyError, match="HAProxy refused 'show nothing': Unknown command"):
        haproxy.client.run(["show nothing"])


def test_missing_socket_and_closed_port(lab):
    missing = os.path.join(lab.workdir, "missing.sock")
    with pytest.raises(HAProxyError, match="cannot connect to HAProxy socket %s: .*No such file" % missing):
        HAProxy(missing).servers("app")
    closed = "127.0.0.1:%d" % free_port()
    with pytest.raises(HAProxyError, match="cannot connect to HAProxy socket %s: .*Connection refused" % closed):
        HAProxy(closed).backends()


def test_haproxy_behind_the_interface_drains_previews_and_restores(lab):
    lab.reset()
    pool = HAProxyPool("app", lab.admin_socket)
    before = {name: server.as_dict() for name, server in pool.snapshot().items()}
    _before, after, would_send = pool.preview({"web1": {"admin": "drain"}})
    assert would_send == ["set server app/web1 state drain"] and after["web1"].admin == "drain"
    assert pool.snapshot()["web1"].admin == "ready"
    servers, sent = pool.drain(["web1"], timeout=5)
    assert sent == ["set server app/web1 state drain"] and servers["web1"].admin == "drain"
    servers, sent = pool.restore(before, ["web1"], timeout=10)
    assert sent == ["set server app/web1 state ready"]
    assert (servers["web1"].admin, servers["web1"].healthy) == ("ready", True)
    assert set(pool.counters(["web1", "web2"])) >= {"web1", "web2"}
    with pytest.raises(HAProxyError, match="server 'ghost' no longer in backend 'app'"):
        pool.counters(["ghost"])
