# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load-balancer provider interface: the steps every provider shares, on an in-memory pool (HAProxy behind the
interface: test_haproxy_live.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.lb.pool import Pool, changes_to_restore


class MemoryPool(Pool):
    """Servers in a dict; records what it was asked to wait for."""

    provider = "memory"

    def __init__(self, servers):
        super().__init__("app")
        self.servers = {name: SimpleNamespace(**server) for name, server in servers.items()}
        self.waited = []

    def snapshot(self):
        return dict(self.servers)

    def preview(self, changes):
        after = {name: SimpleNamespace(**vars(server)) for name, server in self.servers.items()}
        sent = []
        for name, change in changes.items():
            for key, value in change.items():
                if getattr(after[name], key) != value:
                    setattr(after[name], key, value)
                    sent.append("%s %s %s" % (name, key, value))
        return self.snapshot(), after, sent

    def apply(self, changes):
        before, after, sent = self.preview(changes)
        self.servers = after
        return before, dict(after), sent

    def wait_drained(self, names, timeout, interval=0.2, maint_is_drained=True):
        self.waited.append(("drained", list(names)))
        return self.snapshot()

    def wait_up(self, names, timeout, interval=0.2):
        self.waited.append(("up", list(names)))
        return self.snapshot()

    def counters(self, names=()):
        return {}


def fleet():
    return MemoryPool({"web1": dict(admin="ready", weight=100, up=True), "web2": dict(admin="ready", weight=50, up=True),
                       "web3": dict(admin="maint", weight=10, up=False)})


def test_drain_takes_the_servers_out_and_waits_for_their_sessions():
    pool = fleet()
    servers, sent = pool.drain(["web1", "web2"], timeout=5)
    assert sent == ["web1 admin drain", "web2 admin drain"]
    assert {name: server.admin for name, server in servers.items()} == {"web1": "drain", "web2": "drain", "web3": "maint"}
    assert pool.waited == [("drained", ["web1", "web2"])]


def test_restore_gives_back_the_state_read_before_and_waits_only_for_servers_that_were_up():
    pool = fleet()
    before = {name: vars(server) for name, server in pool.snapshot().items()}
    pool.apply({"web1": {"admin": "drain", "weight": 0}, "web3": {"admin": "ready"}})
    servers, sent = pool.restore(before, ["web1", "web3"], timeout=5)
    assert sent == ["web1 admin ready", "web1 weight 100", "web3 admin maint"]
    assert (servers["web1"].admin, servers["web1"].weight, servers["web3"].admin) == ("ready", 100, "maint")
    assert pool.waited == [("up", ["web1"])]
    # without a timeout nothing is waited for
    pool.restore(before, ["web1"])
    assert pool.waited == [("up", ["web1"])]


def test_shift_weights_sets_many_weights_and_waits_for_the_servers_it_made_ready():
    pool = fleet()
    servers, sent = pool.shift_weights({"web1": 0, "web2": 100}, admin="ready", admin_names=["web3"], timeout=5)
    assert sent == ["web1 weight 0", "web2 weight 100", "web3 admin ready"]
    assert pool.waited == [("up", ["web3"])]
    pool.shift_weights({"web1": 100}, admin="drain", admin_names=["web2"], timeout=5)
    assert pool.waited == [("up", ["web3"])]


def test_the_change_to_restore_is_admin_state_and_weight_only():
    before = {"web1": {"admin": "drain", "weight": "7", "up": False, "sessions": 3}}
    assert changes_to_restore(before, ["web1"]) == {"web1": {"admin": "drain", "weight": 7}}


def test_a_provider_must_implement_every_primitive():
    class Partial(Pool):
        def snapshot(self):
            return {}

    with pytest.raises(TypeError, match="abstract"):
        Partial("app")  # pylint: disable=abstract-class-instantiated
