# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import pytest

from ansible_collections.lastmile.deploy.plugins.modules.health_check import main
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer, closed_port_url
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible, run_in_process

STATS_KEYS = {"url", "count", "failures", "error_rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "statuses"}


@pytest.fixture
def server():
    with LocalServer(slow_seconds=0.05, warmup_failures=3) as running:
        yield running


def test_healthy_endpoint(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/health")), capsys)
    assert rc == 0, result
    assert result["changed"] is False and result["healthy"] is True
    assert result["attempts"] == 1 and result["status"] == 200 and result["error"] is None
    assert result["latency_ms"] > 0
    assert "stats" not in result


def test_waits_until_healthy(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/warmup"), interval=0.01, wait_timeout=5), capsys)
    assert rc == 0, result
    assert result["attempts"] == 4


def test_never_healthy_names_url_wait_and_last_status(server, capsys):
    url = server.url("/down")
    rc, result = run_in_process(main, dict(url=url, wait_timeout=0.3, interval=0.05), capsys)
    assert rc == 1
    assert result["healthy"] is False and result["status"] == 503
    assert result["msg"].startswith("%s did not become healthy within 0.3s after " % url)
    assert result["msg"].endswith(": last status 503 (expected 200)")


def test_refused_names_the_network_error(capsys):
    url = closed_port_url()
    rc, result = run_in_process(main, dict(url=url, wait_timeout=0.2, interval=0.05), capsys)
    assert rc == 1
    assert result["status"] is None
    assert result["msg"].endswith("last connection failed: connection refused")
    assert url in result["msg"]


def test_no_wait_is_a_single_probe(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/warmup"), wait_timeout=0), capsys)
    assert rc == 1 and result["attempts"] == 1
    assert "on a single probe" in result["msg"]
    assert server.counts["/warmup"] == 1


def test_no_wait_with_consecutive_is_rejected(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/health"), wait_timeout=0, consecutive=2), capsys)
    assert rc == 1
    assert result["msg"] == "consecutive=2 needs wait_timeout > 0: with wait_timeout=0 a single probe decides"


def test_body_regex_mismatch_fails(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/health"), body_regex="ready", wait_timeout=0), capsys)
    assert rc == 1
    assert result["msg"].endswith("last body does not match 'ready'")


def test_samples_within_thresholds_return_stats(server, capsys):
    args = dict(url=server.url("/health"), samples=10, sample_interval=0, max_latency_ms=5000)
    rc, result = run_in_process(main, args, capsys, check_mode=True)
    assert rc == 0, result
    assert set(result["stats"]) == STATS_KEYS
    assert result["stats"]["count"] == 10 and result["stats"]["statuses"] == {"200": 10}


def test_samples_error_rate_gate(server, capsys):
    url = server.url("/flaky")
    args = dict(url=url, samples=30, sample_interval=0, max_error_rate=0.001)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    # the wait used one request (a 200), so samples are requests 2..31: 10 of them are every 3rd
    assert result["stats"]["failures"] == 10
    assert result["msg"].startswith("%s: error rate 0.3333 > 0.001 over 30 samples" % url)


def test_pages_are_sampled_besides_the_endpoint_and_a_failing_page_fails_the_gate(server, capsys):
    """The health endpoint is fine; /moved redirects (a page may) and /flaky fails every 3rd request."""
    moved, flaky = server.url("/moved"), server.url("/flaky")
    args = dict(url=server.url("/health"), samples=30, sample_interval=0, max_error_rate=0.01, page_urls=[moved, flaky])
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1, result
    assert result["msg"] == "%s: error rate 0.3333 > 0.01 over 30 samples (10 failed, statuses 200 x20, 500 x10)" % flaky
    assert [page["url"] for page in result["page_stats"]] == [moved, flaky]
    assert result["page_stats"][0]["statuses"] == {"302": 30} and result["page_stats"][0]["failures"] == 0
    assert result["stats"]["failures"] == 0 and server.counts["/flaky"] == 30
    rc, result = run_in_process(main, dict(args, page_urls=[moved]), capsys)
    assert rc == 0 and set(result["page_stats"][0]) == STATS_KEYS, result


@pytest.mark.parametrize("page", ["http://evil.example/", "{base}@evil.example/", "https://{hostport}/",
                                  "http://user@{hostport}/", "{base}:1/"])
def test_a_page_of_another_host_is_refused_before_any_request(server, capsys, page):
    """The pages get the health URL's headers (a token): one elsewhere is refused, and nothing is sent."""
    base = server.url("").rstrip("/")
    page = page.format(base=base, hostport=base.split("//", 1)[1])
    rc, result = run_in_process(main, dict(url=server.url("/health"), samples=2, page_urls=[page],
                                           headers={"Authorization": "Bearer t0ken"}), capsys)
    assert rc == 1 and result["msg"].startswith("page_urls %s: expected pages of " % page), result
    assert server.counts == {}


def test_page_urls_need_samples(server, capsys):
    rc, result = run_in_process(main, dict(url=server.url("/health"), page_urls=[server.url("/")]), capsys)
    assert rc == 1 and result["msg"] == "page_urls needs samples > 0: each page is sampled as often as the endpoint"


def test_samples_latency_gate(server, capsys):
    url = server.url("/slow")
    args = dict(url=url, samples=3, sample_interval=0, max_latency_ms=10, latency_percentile=90)
    rc, result = run_in_process(main, args, capsys)
    assert rc == 1
    assert result["msg"].startswith("%s: p90 latency " % url)
    assert result["msg"].endswith("> 10 ms over 3 samples")
    assert result["stats"]["p90_ms"] >= 50


@pytest.mark.parametrize("args, message", [
    (dict(max_error_rate=2), "max_error_rate must be between 0 and 1, got 2.0"),
    (dict(latency_percentile=0), "latency_percentile must be between 1 and 100, got 0"),
    (dict(timeout=0), "timeout must be greater than 0, got 0.0"),
    (dict(samples=-1), "samples must be 0 or more, got -1"),
])
def test_invalid_options_are_named(server, capsys, args, message):
    rc, result = run_in_process(main, dict(args, url=server.url("/health")), capsys)
    assert rc == 1
    assert result["msg"] == message


def test_through_ansible_cli(server):
    rc, result = run_ansible("health_check", dict(url=server.url("/health"), samples=5, sample_interval=0), check_mode=True)
    assert rc == 0, result
    assert result["healthy"] is True and result["stats"]["count"] == 5
    rc, result = run_ansible("health_check", dict(url=server.url("/down"), wait_timeout=0.2, interval=0.05))
    assert rc != 0
    assert "last status 503 (expected 200)" in result["msg"]


def test_headers_are_sent_as_text(server, capsys):
    args = dict(url=server.url("/health"), headers={"Host": "shop.example.com", "X-Attempt": 5})
    rc, result = run_in_process(main, args, capsys)
    assert rc == 0, result
    assert server.headers_seen[-1]["Host"] == "shop.example.com"
    assert server.headers_seen[-1]["X-Attempt"] == "5"
