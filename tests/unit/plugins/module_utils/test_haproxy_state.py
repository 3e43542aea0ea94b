# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing, state decoding and change planning over real HAProxy 2.6 output."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.client import HAProxyError
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import (
    Server,
    admin_and_weight,
    decode_admin,
    is_up,
    merge_servers,
    parse_servers_state,
    parse_stat,
    plan_commands,
    preview,
    require_servers,
    stat_backends,
    unmet_changes,
    validate_name,
)

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def captured(state: str = "haproxy26_servers_state.txt", stat: str = "haproxy26_stat.txt") -> dict:
    return merge_servers(parse_servers_state(fixture(state)), parse_stat(fixture(stat)))


def test_parse_servers_state_maps_fields_by_header():
    rows = parse_servers_state(fixture("haproxy26_servers_state.txt"))
    assert [(row["be_name"], row["srv_name"]) for row in rows] == [
        ("app", "web1"),
        ("app", "web2"),
        ("app", "web3"),
        ("api", "api1"),
    ]
    web2 = rows[1]
    assert (web2["srv_addr"], web2["srv_port"]) == ("127.0.0.3", "18181")
    assert (web2["srv_op_state"], web2["srv_admin_state"]) == ("2", "0")
    assert (web2["srv_uweight"], web2["srv_iweight"]) == ("50", "50")


def test_parse_servers_state_follows_the_header_not_fixed_positions():
    text = "1\n# srv_name be_name srv_admin_state srv_uweight\nweb9 shop 8 7\n\n"
    assert parse_servers_state(text) == [
        {"srv_name": "web9", "be_name": "shop", "srv_admin_state": "8", "srv_uweight": "7"}
    ]


def test_parse_servers_state_of_empty_backend():
    text = fixture("haproxy26_servers_state.txt").split("\n")[:2]
    assert parse_servers_state("\n".join(text) + "\n\n") == []


@pytest.mark.parametrize("reply", ["Can't find backend.\n", "", "Permission denied\n"])
def test_parse_servers_state_rejects_other_replies(reply):
    with pytest.raises(HAProxyError, match="show servers state"):
        parse_servers_state(reply)


def test_parse_stat_maps_fields_by_header():
    rows = parse_stat(fixture("haproxy26_stat.txt"))
    web2 = next(row for row in rows if (row["pxname"], row["svname"]) == ("app", "web2"))
    assert web2["status"] == "UP"
    assert (web2["hrsp_2xx"], web2["hrsp_5xx"], web2["req_tot"], web2["stot"]) == ("3", "2", "5", "5")
    assert web2["check_status"] == "L7OK"
    assert stat_backends(rows) == ["app", "api"]


def test_parse_stat_rejects_other_replies():
    with pytest.raises(HAProxyError, match="show stat"):
        parse_stat("Unknown command, but maybe one of the following ones is a better match:\n")


def test_merge_builds_servers_from_captured_output():
    servers = captured()
    assert sorted(servers) == ["api", "app"]
    web1, web2, web3 = (servers["app"][name] for name in ("web1", "web2", "web3"))
    # web1: checked, nothing listens.
    assert (web1.admin, web1.status, web1.up, web1.down, web1.check_status) == ("ready", "DOWN", False, True, "L4CON")
    # web2: checked and answering, took 5 requests (3 x 2xx, 2 x 5xx).
    assert web2.as_dict() == {
        "backend": "app",
        "name": "web2",
        "address": "127.0.0.3",
        "port": 18181,
        "admin": "ready",
        "status": "UP",
        "up": True,
        "weight": 50,
        "initial_weight": 50,
        "sessions": 0,
        "queued": 0,
        "total_sessions": 5,
        "responses_2xx": 3,
        "responses_5xx": 2,
        "requests_total": 5,
        "response_time_ms": 0,
        "total_time_ms": 0,
        "check_status": "L7OK",
    }
    # web3: 'disabled' in the configuration.
    assert (web3.admin, web3.status, web3.up, web3.down) == ("maint", "MAINT", False, False)
    assert servers["api"]["api1"].status == "no check" and servers["api"]["api1"].up is True


def test_merge_after_runtime_changes():
    servers = captured("haproxy26_servers_state_changed.txt", "haproxy26_stat_changed.txt")["app"]
    assert (servers["web1"].admin, servers["web1"].status) == ("maint", "MAINT")
    web2 = servers["web2"]
    assert (web2.admin, web2.status, web2.up, web2.weight, web2.initial_weight) == ("drain", "DRAIN", True, 5, 50)


@pytest.mark.parametrize(
    "flags, admin",
    [
        (0x00, "ready"),
        (0x01, "maint"),  # FMAINT
        (0x02, "maint"),  # IMAINT
        (0x04, "ready"),  # CMAINT alone: 'disabled' server made ready at runtime
        (0x05, "maint"),  # 'disabled' at start: FMAINT | CMAINT
        (0x08, "drain"),  # FDRAIN
        (0x10, "drain"),  # IDRAIN
        (0x20, "maint"),  # RMAINT
        (0x40, "ready"),  # HMAINT alone: FQDN set from the CLI
        (0x09, "maint"),  # maintenance wins over drain
        (0x48, "drain"),
    ],
)
def test_decode_admin(flags, admin):
    assert decode_admin(flags) == admin


@pytest.mark.parametrize(
    "op_state, status, up",
    [
        (2, "UP", True),
        (2, "UP 1/3", True),
        (2, "DRAIN", True),
        (2, "no check", True),
        (0, "DOWN", False),
        (0, "DOWN 1/2", False),
        (3, "NOLB", False),
        (0, "MAINT", False),
        (0, "MAINT (via app/web1)", False),
        (2, "", True),
        (1, "", True),
        (0, "", False),
        (3, "", False),
    ],
)
def test_is_up(op_state, status, up):
    assert is_up(op_state, status) is up


@pytest.mark.parametrize("name", ["app", "web-1", "web_1.example.com", "be:1"])
def test_validate_name_accepts_haproxy_names(name):
    assert validate_name(name, "server") == name


@pytest.mark.parametrize("name", ["", "web1; shutdown sessions", "a b", "app/web1", "x\n"])
def test_validate_name_rejects_what_could_inject_commands(name):
    with pytest.raises(HAProxyError, match="server name"):
        validate_name(name, "server")


def test_plan_only_what_differs():
    servers = captured()["app"]
    commands = plan_commands(
        "app",
        servers,
        {"web1": {"admin": "ready", "weight": 1}, "web2": {"admin": "drain"}, "web3": {"admin": "ready", "weight": 4}},
    )
    assert commands == [
        "set server app/web2 state drain",
        "set server app/web3 weight 4",
        "set server app/web3 state ready",
    ]


def test_plan_sets_weight_before_ready_and_state_before_weight_otherwise():
    servers = captured("haproxy26_servers_state_changed.txt", "haproxy26_stat_changed.txt")["app"]
    assert plan_commands("app", servers, {"web2": {"admin": "ready", "weight": 50}}) == [
        "set server app/web2 weight 50",
        "set server app/web2 state ready",
    ]
    assert plan_commands("app", servers, {"web2": {"admin": "maint", "weight": 0}}) == [
        "set server app/web2 state maint",
        "set server app/web2 weight 0",
    ]


def test_plan_nothing_when_state_matches():
    servers = captured("haproxy26_servers_state_changed.txt", "haproxy26_stat_changed.txt")["app"]
    assert plan_commands("app", servers, {"web1": {"admin": "maint"}, "web2": {"admin": "drain", "weight": 5}}) == []


def test_plan_unknown_server_names_server_backend_and_known():
    with pytest.raises(HAProxyError) as info:
        plan_commands("app", captured()["app"], {"web1": {"admin": "drain"}, "web9": {"admin": "drain"}})
    assert str(info.value) == "server 'web9' not found in backend 'app'; known servers: web1, web2, web3"


@pytest.mark.parametrize("weight", [-1, 257, True, "10", 1.5])
def test_plan_rejects_weight_outside_range(weight):
    with pytest.raises(HAProxyError, match=r"weight .* for server 'web1' is not an integer in 0\.\.256"):
        plan_commands("app", captured()["app"], {"web1": {"weight": weight}})


@pytest.mark.parametrize("weight", [0, 256])
def test_plan_accepts_weight_bounds(weight):
    assert plan_commands("app", captured()["app"], {"web1": {"weight": weight}}) == [
        "set server app/web1 weight %d" % weight
    ]


def test_plan_rejects_unknown_admin_state_and_keys():
    with pytest.raises(HAProxyError, match="admin state 'disabled' for server 'web1'"):
        plan_commands("app", captured()["app"], {"web1": {"admin": "disabled"}})
    with pytest.raises(HAProxyError, match=r"unknown keys \['state'\]"):
        plan_commands("app", captured()["app"], {"web1": {"state": "drain"}})


def test_preview_and_unmet_changes():
    servers = captured()["app"]
    changes = {"web1": {"admin": "drain", "weight": 3}, "web3": {"admin": "ready"}}
    expected = preview(servers, changes)
    assert admin_and_weight(expected, ["web1", "web3"]) == {
        "web1": {"admin": "drain", "weight": 3},
        "web3": {"admin": "ready", "weight": 1},
    }
    assert servers["web1"].admin == "ready", "preview must not change what it was given"
    assert unmet_changes(expected, changes) == []
    assert unmet_changes(servers, changes) == [
        "server 'web1' is ready, not drain",
        "server 'web1' has weight 1, not 3",
        "server 'web3' is maint, not ready",
    ]


def test_require_servers():
    servers = {"a": None, "b": None}
    require_servers("be", servers, ["a"])
    with pytest.raises(HAProxyError, match="server 'c', 'd' not found in backend 'be'; known servers: a, b"):
        require_servers("be", servers, ["a", "c", "d"])


@pytest.mark.parametrize(
    "status, up, healthy",
    [
        ("UP", True, True),
        ("UP 1/3", True, False),
        ("DRAIN", True, True),
        ("DRAIN 1/2", True, False),
        ("no check", True, True),
        ("DOWN", False, False),
        ("", True, True),
        ("", False, False),
    ],
)
def test_healthy_property(status, up, healthy):
    assert Server("be", "s", "127.0.0.1", 80, "ready", status, up, 1, 1).healthy is healthy


def test_down_property_without_stat_status():
    server = Server("be", "s", "127.0.0.1", 80, "ready", "", False, 1, 1)
    assert server.down is True
    assert Server("be", "s", "127.0.0.1", 80, "maint", "", False, 1, 1).down is False
