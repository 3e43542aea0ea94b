# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check against a real health endpoint on 127.0.0.1 that wants a token: the token is sent, never shown."""

from __future__ import annotations

import json

import pytest

from ansible_collections.lastmile.deploy.plugins.modules.health_check import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_in_process

TOKEN = "hc-0b9e44d1f7"


@pytest.fixture
def server():
    with AuthServer(token=TOKEN) as running:
        yield running


def test_token_header_is_sent_and_hidden(server, capsys):
    args = dict(url=server.url("/health"), headers={"Authorization": "Bearer " + TOKEN}, samples=3, sample_interval=0)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert result["healthy"] is True and result["stats"]["count"] == 3
    assert {s.headers["Authorization"] for s in server.requests_to("/health")} == {"Bearer " + TOKEN}
    assert result["invocation"]["module_args"]["headers"] == {"Authorization": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert TOKEN not in json.dumps(result)


def test_without_the_token_the_endpoint_is_unhealthy(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/health"), wait_timeout=0), capsys)
    assert rc == 1
    assert result["status"] == 401 and "status 401 (expected 200)" in result["msg"]


def test_header_with_line_break_is_refused_without_the_value(server, capsys):
    args = dict(url=server.url("/health"), headers={"Authorization": "Bearer " + TOKEN + "\r\nX-Injected: 1"})
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert "'Authorization' contains a line break" in result["msg"]
    assert TOKEN not in json.dumps(result)
    assert server.requests_to("/health") == []
