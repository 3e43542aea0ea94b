# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lastmile.deploy.haproxy_info against a real HAProxy."""

from __future__ import annotations

import os

import pytest

from ansible_collections.lastmile.deploy.plugins.modules import haproxy_info
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures import run_module
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, HAProxyLab, free_port

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)


@pytest.fixture(scope="module")
def lab():
    lab = HAProxyLab().start()
    yield lab
    lab.stop()


def run(check_mode=False, **args):
    return run_module.in_process(haproxy_info.main, args, check_mode)


@pytest.mark.parametrize("check_mode", [False, True])
def test_one_backend(lab, check_mode):
    lab.send("set server app/web2 weight 33; set server app/web1 state drain")
    try:
        result = run(check_mode, socket=lab.admin_socket, backend="app")
    finally:
        lab.reset()
    assert result["changed"] is False
    servers = result["servers"]
    assert sorted(servers) == ["web1", "web2", "web3", "web4"]
    assert (servers["web1"]["admin"], servers["web1"]["status"], servers["web1"]["weight"]) == ("drain", "DRAIN", 10)
    assert (servers["web2"]["weight"], servers["web2"]["initial_weight"]) == (33, 20)
    assert (servers["web3"]["up"], servers["web4"]["admin"]) == (False, "maint")
    assert result["backends"] == {"app": servers}


def test_all_backends(lab):
    result = run(socket=lab.tcp_address)
    assert "servers" not in result
    assert {name: sorted(servers) for name, servers in result["backends"].items()} == {
        "app": ["web1", "web2", "web3", "web4"],
        "api": ["api1"],
    }
    assert result["backends"]["api"]["api1"]["status"] == "no check"


def test_unknown_backend_names_it_and_lists_known(lab):
    result = run(socket=lab.admin_socket, backend="shop")
    assert result["failed"] is True
    assert result["msg"] == "backend 'shop' not found in HAProxy at %s; known backends: app, api" % lab.admin_socket


def test_unreachable_socket_names_it(lab):
    missing = os.path.join(lab.workdir, "nope.sock")
    result = run(socket=missing, backend="app")
    assert result["failed"] is True
    assert result["msg"].startswith("cannot connect to HAProxy socket %s: " % missing)
    closed = "127.0.0.1:%d" % free_port()
    assert "cannot connect to HAProxy socket %s: " % closed in run(socket=closed)["msg"]


def test_through_ansible_adhoc(lab):
    args = dict(socket=lab.admin_socket, backend="api")
    result = run_module.adhoc("lastmile.deploy.haproxy_info", args, check_mode=True)
    assert result["changed"] is False
    assert result["servers"]["api1"]["backend"] == "api"
    assert result["servers"]["api1"]["port"] == lab.apps["web1"].server_address[1]
