# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""notify against a real webhook receiver on 127.0.0.1: sends, check mode, and no URL in any output."""

from __future__ import annotations

import json

import pytest

from ansible_collections.lastmile.deploy.plugins.modules.notify import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, refused_url
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

SECRET = "hk-5b2e9d0c7a13f468"
HEADER_SECRET = "Bearer hdr-71c4aa90e2"


@pytest.fixture
def receiver():
    with AuthServer() as running:
        yield running


def summary_args(url, **extra):
    return dict(dict(url=url, app="shop", version="1.4.2", strategy="rolling", outcome="succeeded",
                     details="all hosts healthy", hosts=["app1", "app2"]), **extra)


def assert_no_secret(result):
    text = json.dumps(result)
    assert SECRET not in text and HEADER_SECRET not in text, text


def test_sends_the_summary(receiver, capsys):
    url = receiver.url("/hook/" + SECRET)
    rc, result = run_in_process(main, summary_args(url, headers={"Authorization": HEADER_SECRET},
                                                   releases={"app1": "1.4.2 (succeeded)", "app2": "1.4.2 (succeeded)"}), capsys)
    assert rc == 0, result
    assert result["sent"] is True and result["status"] == 200 and result["changed"] is False
    (seen,) = receiver.requests_to("/hook/", "POST")
    assert seen.headers["Authorization"] == HEADER_SECRET
    assert json.loads(seen.body) == result["payload"] == dict(
        app="shop", version="1.4.2", strategy="rolling", outcome="succeeded", message="all hosts healthy",
        hosts=["app1", "app2"], releases={"app1": "1.4.2 (succeeded)", "app2": "1.4.2 (succeeded)"},
        text="shop 1.4.2 succeeded (rolling, 2 hosts): all hosts healthy",
    )
    assert result["invocation"]["module_args"]["url"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert_no_secret(result)


def test_check_mode_sends_nothing(receiver, capsys):
    rc, result = run_in_process(main, summary_args(receiver.url("/hook/" + SECRET)), capsys, check_mode=True)
    assert rc == 0, result
    assert result["would_send"] is True and result["sent"] is False
    assert result["payload"]["outcome"] == "succeeded"
    assert receiver.requests_to("/hook/", "POST") == []
    assert_no_secret(result)


@pytest.mark.parametrize("broken", ["status", "refused"])
def test_failed_webhook_warns_without_the_url_when_not_required(receiver, capsys, broken):
    with refused_url("/hook/" + SECRET) as refused:
        if broken == "status":
            receiver.webhook_status = 500
            url, reason = receiver.url("/hook/" + SECRET), "the webhook answered status 500 (expected 2xx)"
        else:
            url, reason = refused, "connection refused"
        rc, result = run_in_process(main, summary_args(url, outcome="rolled_back", fail_on_error=False), capsys)
    assert rc == 0, result
    assert result["sent"] is False and result["error"] == reason
    warnings = json.dumps(result["warnings"])
    assert "the rolled_back notification for shop 1.4.2 was not delivered: %s" % reason in warnings
    assert_no_secret(result)


def test_failed_webhook_fails_when_required(receiver, capsys):
    receiver.webhook_status = 503
    rc, result = run_in_process(main, summary_args(receiver.url("/hook/" + SECRET)), capsys)
    assert rc == 1
    assert result["msg"] == ("the succeeded notification for shop 1.4.2 was not delivered: "
                             "the webhook answered status 503 (expected 2xx)")
    assert_no_secret(result)


def test_header_with_line_break_is_refused_naming_only_the_header(receiver, capsys):
    args = summary_args(receiver.url("/hook/" + SECRET), headers={"Authorization": HEADER_SECRET + "\nX: y"})
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert "'Authorization' contains a line break" in result["msg"]
    assert_no_secret(result)
    assert "hdr-71c4aa90e2" not in json.dumps(result)
    assert receiver.requests_to("/hook/", "POST") == []


def test_bad_outcome_is_named(receiver, capsys):
    rc, result = run_in_process(main, summary_args(receiver.url("/hook/" + SECRET), outcome="done"), capsys)
    assert rc == 1
    assert "outcome" in result["msg"] and "done" in result["msg"] and "rolled_back" in result["msg"]


def test_through_ansible_cli_hides_url_and_headers(receiver):
    url = receiver.url("/hook/" + SECRET)
    rc, result = run_ansible("notify", summary_args(url, headers={"Authorization": HEADER_SECRET}))
    assert rc == 0, result
    assert result["sent"] is True
    assert receiver.hook_bodies()[0]["version"] == "1.4.2"
    assert_no_secret(result)
