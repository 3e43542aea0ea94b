# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deployment summaries and their delivery to a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.notify import (
    NotifyError,
    build_summary,
    check_url,
    post_json,
    redact,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, private_ca, refused_url

SECRET = "T0KEN9c1d5e7f2a4b6c8d"


def test_summary_fields_and_text():
    body = build_summary("shop", "1.4.2", "rolled_back", "canary", "app2: error rate 0.04 > 0.001", ["app1", "app2"],
                         {"app1": "1.4.1 (succeeded)", "app2": "1.4.1 (succeeded)"})
    assert body == dict(
        app="shop", version="1.4.2", strategy="canary", outcome="rolled_back",
        message="app2: error rate 0.04 > 0.001", hosts=["app1", "app2"],
        releases={"app1": "1.4.1 (succeeded)", "app2": "1.4.1 (succeeded)"},
        text="shop 1.4.2 was rolled back (canary, 2 hosts): app2: error rate 0.04 > 0.001",
    )
    assert build_summary("shop", "1", "succeeded", hosts=["a"])["text"] == "shop 1 succeeded (1 host)"
    assert build_summary("shop", "1", "failed")["strategy"] is None


def test_summary_refuses_unknown_outcome():
    with pytest.raises(NotifyError, match="outcome 'done' is not one of succeeded, rolled_back, failed"):
        build_summary("shop", "1", "done")


@pytest.mark.parametrize("url", ["ftp://hooks.test/" + SECRET, "hooks.test/" + SECRET, "https:///" + SECRET, "http://[::1/" + SECRET])
def test_bad_url_is_refused_without_quoting_it(url):
    with pytest.raises(NotifyError) as caught:
        check_url(url)
    assert SECRET not in str(caught.value) and "URL not shown" in str(caught.value)


def test_redact_removes_url_path_query_and_password():
    url = "https://bot:pw-77aa@hooks.test/services/%s?key=k-99zz" % SECRET
    text = "failed for %s, path /services/%s, token %s, key=k-99zz, pw-77aa" % (url, SECRET, SECRET)
    cleaned = redact(text, url)
    for secret in (SECRET, "k-99zz", "pw-77aa", url):
        assert secret not in cleaned


@pytest.fixture
def receiver():
    with AuthServer() as running:
        yield running


def test_post_json_delivers_body_and_headers(receiver):
    url = receiver.url("/hook/" + SECRET)
    status = post_json(url, {"app": "shop", "outcome": "succeeded"}, headers={"X-Signature": "sig-1"}, timeout=5)
    assert status == 200
    (seen,) = receiver.requests_to("/hook/", "POST")
    assert seen.path == "/hook/" + SECRET
    assert seen.headers["Content-Type"] == "application/json" and seen.headers["X-Signature"] == "sig-1"
    assert receiver.hook_bodies() == [{"app": "shop", "outcome": "succeeded"}]


@pytest.mark.parametrize("status", [500, 302, 404])
def test_non_2xx_answer_fails_without_the_url(receiver, status):
    receiver.webhook_status = status
    with pytest.raises(NotifyError) as caught:
        post_json(receiver.url("/hook/" + SECRET), {}, timeout=5)
    assert str(caught.value) == "the webhook answered status %d (expected 2xx)" % status
    assert len(receiver.requests_to("/hook/", "POST")) == 1, "a redirect was followed"


def test_refused_connection_fails_without_the_url():
    with refused_url("/hook/" + SECRET) as url, pytest.raises(NotifyError) as caught:
        post_json(url, {}, timeout=5)
    assert str(caught.value) == "connection refused"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_private_ca_webhook(tmp_path):
    pytest.importorskip("cryptography")
    tls = private_ca(str(tmp_path))
    with AuthServer(tls=tls) as receiver:
        url = receiver.url("/hook/" + SECRET)
        with pytest.raises(NotifyError, match="^TLS certificate verification failed: ") as caught:
            post_json(url, {}, timeout=5)
        assert SECRET not in str(caught.value)
        assert receiver.requests_to("/hook/", "POST") == []
        assert post_json(url, {"a": 1}, timeout=5, ca_path=tls.ca) == 200
        assert receiver.hook_bodies() == [{"a": 1}]


def test_a_webhook_url_with_user_and_password_sends_them_as_basic_auth_and_shows_neither(receiver):
    host_port = receiver.url("/").split("://", 1)[1].rstrip("/")
    url = "http://bot:pw-77aa@%s/hook/%s" % (host_port, SECRET)
    assert post_json(url, {"app": "shop"}, timeout=5) == 200
    (seen,) = receiver.requests_to("/hook/", "POST")
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"bot:pw-77aa").decode("ascii")
