# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime API round trips: addresses, reply splitting, error replies, command batching."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import socket
import tempfile
import threading

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy import runtime as _haproxy
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy import tasks as _haproxy_tasks
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import ChangeUnconfirmed, HAProxy, HAProxyError
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import (
    NoFullAnswer,
    RuntimeClient,
    check_commands,
    check_reply,
    parse_address,
    split_replies,
)

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
STATE = (FIXTURES / "haproxy26_servers_state.txt").read_text()
STAT = (FIXTURES / "haproxy26_stat.txt").read_text()
APP_STATE_CHANGED = (FIXTURES / "haproxy26_servers_state_changed.txt").read_text()
STAT_CHANGED = (FIXTURES / "haproxy26_stat_changed.txt").read_text()


def app_state(text: str = STATE) -> str:
    """'show servers state app' as HAProxy prints it: the full output without other backends."""
    return "\n".join(line for line in text.split("\n") if not line.startswith("4 api "))


class ScriptedHAProxy:
    """Stands in for RuntimeClient.round_trip: records payloads, answers from a list."""

    def __init__(self, monkeypatch, replies):
        self.payloads = []
        self.replies = list(replies)
        monkeypatch.setattr(_haproxy.RuntimeClient, "round_trip", self.round_trip)

    def round_trip(self, payload):
        self.payloads.append(payload)
        return self.replies.pop(0)


@pytest.mark.parametrize(
    "address, expected",
    [
        ("/run/haproxy/admin.sock", (socket.AF_UNIX, "/run/haproxy/admin.sock")),
        ("admin.sock", (socket.AF_UNIX, "admin.sock")),
        ("./run/x:1", (socket.AF_UNIX, "./run/x:1")),
        ("127.0.0.1:9999", (socket.AF_INET, ("127.0.0.1", 9999))),
        ("lb1.example.com:9999", (socket.AF_INET, ("lb1.example.com", 9999))),
        ("[::1]:9999", (socket.AF_INET6, ("::1", 9999))),
        ("[fe80::1%eth0]:80", (socket.AF_INET6, ("fe80::1%eth0", 80))),
    ],
)
def test_parse_address(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["", "  ", "127.0.0.1:0", "127.0.0.1:70000"])
def test_parse_address_rejects(address):
    with pytest.raises(HAProxyError, match="HAProxy socket address"):
        parse_address(address)


def test_split_replies_keeps_empty_outputs_of_set_commands():
    # Real reply to 'set ... weight 30; set ... state drain; show servers state app'.
    reply = "\n\n" + app_state()
    assert split_replies(reply, 3) == ["", "", app_state().rstrip("\n")]


def test_split_replies_with_error_in_the_middle():
    reply = "No such server.\n\n\n" + app_state()
    outputs = split_replies(reply, 3)
    assert outputs[:2] == ["No such server.", ""]
    assert outputs[2].startswith("1\n# be_id")


def test_split_replies_short_reply_raises():
    with pytest.raises(HAProxyError, match="answered 1 of 2 commands"):
        split_replies("\n", 2)


@pytest.mark.parametrize(
    "reply",
    [
        "Unknown command, but maybe one of the following ones is a better match:\n  help",
        "No such server.",
        "No such backend.",
        "Can't find backend.",
        "Permission denied",
        "Require 'admin' level.",
    ],
)
def test_check_reply_raises_naming_command_and_reply(reply):
    with pytest.raises(HAProxyError) as info:
        check_reply("set server app/web1 state drain", reply)
    assert "'set server app/web1 state drain'" in str(info.value)
    assert reply.split("\n")[0] in str(info.value)


@pytest.mark.parametrize("output", ["", app_state(), STAT])
def test_check_reply_accepts_normal_output(output):
    assert check_reply("show stat", output) is None


@pytest.mark.parametrize("commands", [[], ["show stat; shutdown sessions server app/web1"], ["show\nstat"], [""]])
def test_check_commands_rejects(commands):
    with pytest.raises(HAProxyError):
        check_commands(commands)


def test_missing_unix_socket_names_address_and_os_error():
    path = os.path.join(tempfile.mkdtemp(), "missing.sock")
    with pytest.raises(HAProxyError) as info:
        RuntimeClient(path).run(["show stat"])
    assert path in str(info.value)
    assert "No such file or directory" in str(info.value)


def test_refused_tcp_names_address_and_os_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = "127.0.0.1:%d" % sock.getsockname()[1]
    with pytest.raises(HAProxyError) as info:
        HAProxy(address).servers("app")
    assert address in str(info.value) and "Connection refused" in str(info.value)


def test_silent_peer_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        with pytest.raises(HAProxyError) as info:
            RuntimeClient(address, timeout=0.3).run(["show stat"])
    assert address in str(info.value) and "timed out" in str(info.value)


def test_round_trip_over_a_unix_socket():
    """A stand-in server: reads the line, answers two outputs, closes."""
    path = os.path.join(tempfile.mkdtemp(), "fake.sock")
    received = []
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(1)

        def serve():
            conn, peer = listener.accept()
            with conn:
                received.append(conn.recv(4096))
                conn.sendall(b"\n" + STAT.encode())

        thread = threading.Thread(target=serve)
        thread.start()
        outputs = RuntimeClient(path).run(["set server app/web1 weight 3", "show stat"])
        thread.join()
    assert received == [b"set server app/web1 weight 3; show stat\n"]
    assert outputs == ["", STAT.rstrip("\n")]


def test_servers_reads_in_one_round_trip(monkeypatch):
    fake = ScriptedHAProxy(monkeypatch, [app_state() + STAT])
    servers = HAProxy("/x.sock").servers("app")
    assert fake.payloads == ["show servers state app; show stat\n"]
    assert sorted(servers) == ["web1", "web2", "web3"]
    assert servers["web2"].status == "UP"


def test_servers_unknown_backend_lists_known(monkeypatch):
    ScriptedHAProxy(monkeypatch, ["Can't find backend.\n\n" + STAT])
    with pytest.raises(HAProxyError) as info:
        HAProxy("/x.sock").servers("shop")
    assert str(info.value) == "backend 'shop' not found in HAProxy at /x.sock; known backends: app, api"


def test_backends(monkeypatch):
    fake = ScriptedHAProxy(monkeypatch, [STATE + STAT])
    backends = HAProxy("/x.sock").backends()
    assert fake.payloads == ["show servers state; show stat\n"]
    assert {name: sorted(servers) for name, servers in backends.items()} == {
        "app": ["web1", "web2", "web3"],
        "api": ["api1"],
    }


def test_apply_sends_all_changes_in_one_round_trip(monkeypatch):
    fake = ScriptedHAProxy(monkeypatch, [app_state() + STAT, "\n\n\n" + APP_STATE_CHANGED + STAT_CHANGED])
    before, after = HAProxy("/x.sock").apply(
        "app", {"web2": {"admin": "drain", "weight": 5}, "web1": {"admin": "maint"}, "web3": {"admin": "maint"}}
    )
    assert fake.payloads == [
        "show servers state app; show stat\n",
        "set server app/web2 state drain; set server app/web2 weight 5; set server app/web1 state maint;"
        " show servers state app; show stat\n",
    ]
    assert (before["web2"].admin, before["web2"].weight) == ("ready", 50)
    assert (after["web2"].admin, after["web2"].weight, after["web1"].admin) == ("drain", 5, "maint")


def test_apply_without_difference_sends_nothing(monkeypatch):
    fake = ScriptedHAProxy(monkeypatch, [APP_STATE_CHANGED + STAT_CHANGED])
    before, after = HAProxy("/x.sock").apply("app", {"web2": {"admin": "drain", "weight": 5}})
    assert len(fake.payloads) == 1
    assert before is after


def test_apply_unknown_server_sends_nothing(monkeypatch):
    fake = ScriptedHAProxy(monkeypatch, [app_state() + STAT])
    with pytest.raises(HAProxyError, match="server 'web7' not found in backend 'app'; known servers: web1, web2, web3"):
        HAProxy("/x.sock").apply("app", {"web1": {"admin": "drain"}, "web7": {"admin": "drain"}})
    assert fake.payloads == ["show servers state app; show stat\n"]


def test_execute_reports_refused_commands(monkeypatch):
    ScriptedHAProxy(monkeypatch, ["\nBackend is using a static LB algorithm.\n\n" + app_state() + STAT])
    with pytest.raises(HAProxyError) as info:
        HAProxy("/x.sock").execute("app", ["set server app/web1 state drain", "set server app/web1 weight 3"])
    message = str(info.value)
    assert "'set server app/web1 weight 3': Backend is using a static LB algorithm." in message
    assert "the other 1 command(s)" in message


class HangingUpPeer:
    """A unix socket peer: answers the first connection with ``first``, then reads each line and
    answers ``then`` (nothing by default) before closing."""

    def __init__(self, first: bytes, then: bytes = b""):
        self.path = os.path.join(tempfile.mkdtemp(), "peer.sock")
        self.received = []
        self.answers = [first]
        self.then = then
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn = self.listener.accept()[0]
            except OSError:
                return
            with conn:
                line = b""
                while not line.endswith(b"\n"):
                    line += conn.recv(4096)
                self.received.append(line.decode())
                conn.sendall(self.answers.pop(0) if self.answers else self.then)

    def close(self):
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting in the thread
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("then, answered", [(b"", 0), (b"\n", 1), (b"\n\n", 2), (b"\n\n" + app_state().encode(), 3)])
def test_a_change_answered_short_or_not_at_all_is_reported_as_sent(then, answered):
    peer = HangingUpPeer((app_state() + STAT).encode(), then)
    try:
        with pytest.raises(ChangeUnconfirmed) as info:
            HAProxy(peer.path).apply("app", {"web1": {"admin": "drain", "weight": 3}})
    finally:
        peer.close()
    sent = ["set server app/web1 state drain", "set server app/web1 weight 3"]
    assert peer.received[1] == "; ".join(sent + ["show servers state app", "show stat"]) + "\n"
    assert info.value.commands == sent
    assert str(info.value).startswith(
        "sent set server app/web1 state drain; set server app/web1 weight 3 to HAProxy at %s, then reading backend "
        "'app' back failed: HAProxy answered %d of 4 commands" % (peer.path, answered))


def test_only_a_failure_after_connecting_counts_as_sent():
    peer = HangingUpPeer(b"")
    try:
        with pytest.raises(NoFullAnswer, match="answered 0 of 1 commands"):
            RuntimeClient(peer.path).run(["show stat"])
    finally:
        peer.close()
    # the socket file is left without a listener: refused before anything is sent
    with pytest.raises(HAProxyError) as refused:
        RuntimeClient(peer.path).run(["set server app/web1 state drain"])
    assert not isinstance(refused.value, NoFullAnswer)
    assert str(refused.value).startswith("cannot connect to HAProxy socket %s: " % peer.path)


def scripted_servers(monkeypatch, rounds):
    """Make HAProxy.servers return one dict of {name: Server} per call."""
    base = HAProxy("/x.sock")
    template = _haproxy.merge_servers(_haproxy.parse_servers_state(STATE), _haproxy.parse_stat(STAT))["app"]
    results = []
    for overrides in rounds:
        servers = dict(template)
        for name, fields in overrides.items():
            servers[name] = dataclasses.replace(template[name], **fields)
        results.append(servers)
    calls = []

    def servers(backend):
        calls.append(backend)
        return results[min(len(calls), len(results)) - 1]

    monkeypatch.setattr(base, "servers", servers)
    return base, calls


def test_wait_drained_until_sessions_end(monkeypatch):
    haproxy, calls = scripted_servers(
        monkeypatch, [{"web2": {"sessions": 2}}, {"web2": {"sessions": 1, "queued": 1}}, {"web2": {"sessions": 0}}]
    )
    servers = haproxy.wait_drained("app", ["web2"], timeout=5, interval=0.01)
    assert len(calls) == 3 and servers["web2"].sessions == 0


def test_wait_drained_down_or_maint_counts_as_drained(monkeypatch):
    haproxy, calls = scripted_servers(
        monkeypatch, [{"web1": {"sessions": 4}, "web3": {"sessions": 2, "admin": "maint"}}]
    )
    haproxy.wait_drained("app", ["web1", "web3"], timeout=5, interval=0.01)
    assert len(calls) == 1


def test_wait_drained_can_wait_on_maint_sessions(monkeypatch):
    haproxy, calls = scripted_servers(monkeypatch, [{"web2": {"sessions": 1, "admin": "maint", "status": "MAINT"}}])
    with pytest.raises(HAProxyError) as info:
        haproxy.wait_drained("app", ["web2"], timeout=0.05, interval=0.01, maint_is_drained=False)
    assert str(info.value) == "servers in backend 'app' still holding sessions after 0.05s: web2 (1 sessions, 0 queued)"


def test_wait_drained_timeout_names_servers_and_counts(monkeypatch):
    haproxy, calls = scripted_servers(monkeypatch, [{"web2": {"sessions": 3, "queued": 2}}])
    with pytest.raises(HAProxyError, match=r"after 0.05s: web2 \(3 sessions, 2 queued\)$"):
        haproxy.wait_drained("app", ["web1", "web2"], timeout=0.05, interval=0.01)


def test_wait_up(monkeypatch):
    haproxy, calls = scripted_servers(
        monkeypatch,
        [{"web1": {"status": "DOWN 1/2", "up": False}}, {"web1": {"status": "UP", "up": True, "check_status": "L7OK"}}],
    )
    assert haproxy.wait_up("app", ["web1", "web2"], timeout=5, interval=0.01)["web1"].up
    assert len(calls) == 2


def test_wait_up_needs_full_up(monkeypatch):
    haproxy, calls = scripted_servers(
        monkeypatch,
        [
            {"web1": {"status": "UP 1/3", "up": True}},
            {"web1": {"status": "UP 2/3", "up": True}},
            {"web1": {"status": "UP", "up": True}},
        ],
    )
    haproxy.wait_up("app", ["web1"], timeout=5, interval=0.01)
    assert len(calls) == 3


def test_wait_up_timeout_names_status_and_check(monkeypatch):
    haproxy, calls = scripted_servers(monkeypatch, [{}])
    with pytest.raises(HAProxyError) as info:
        haproxy.wait_up("app", ["web1", "web2", "web3"], timeout=0.05, interval=0.01)
    assert str(info.value) == (
        "servers in backend 'app' not UP after 0.05s: web1 (status DOWN, check L4CON), web3 (status MAINT, check none)"
    )


def test_wait_unknown_server(monkeypatch):
    haproxy, calls = scripted_servers(monkeypatch, [{}])
    with pytest.raises(HAProxyError, match="server 'nope' not found in backend 'app'"):
        haproxy.wait_up("app", ["nope"], timeout=1, interval=0.01)


STATIC_LB = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."


@pytest.mark.parametrize("answer, applied", [
    # HAProxy's answer to 'set ... state drain; set ... weight 3; show servers state app; show stat'
    ("\n" + STATIC_LB + "\n\n", True),
    ("No such server.\n\nNo such server.\n\n", False),
])
def test_a_change_haproxy_partly_refuses_reports_what_was_sent(answer, applied):
    peer = HangingUpPeer((app_state() + STAT).encode(), (answer + app_state() + STAT).encode())
    params = dict(socket=peer.path, backend="app", name=["web1"], state="drain", weight=3, weights=None, wait=False,
                  wait_timeout=1.0, wait_interval=0.1, min_serving=0, batch=[])
    try:
        with pytest.raises(HAProxyError) as info:
            _haproxy_tasks.change_servers(params, check_mode=False, diff=False, warnings=[])
    finally:
        peer.close()
    sent = ["set server app/web1 state drain", "set server app/web1 weight 3"]
    assert info.value.result == dict(changed=applied, commands=sent)
    assert str(info.value).startswith("HAProxy at %s refused " % peer.path)
