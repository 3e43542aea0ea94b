# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP probing against real servers on 127.0.0.1 (see http_servers.py)."""

from __future__ import annotations

import sys
import time
import warnings

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import (
    ProbeError,
    ProbeResult,
    download,
    fetch_text,
    probe,
    sample,
    wait_healthy,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.stats import (
    SampleStats,
    StatsError,
    evaluate,
    nearest_rank,
    summarise,
)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer, closed_port_url, self_signed_cert


@pytest.fixture
def server():
    with LocalServer(slow_seconds=0.3, warmup_failures=3) as running:
        yield running


# probe

def test_probe_healthy(server):
    result = probe(server.url("/health"), timeout=2)
    assert result.ok and result.status == 200 and result.error is None
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.body_matched is None


def test_probe_unexpected_status_names_it(server):
    result = probe(server.url("/down"), timeout=2)
    assert not result.ok
    assert result.status == 503
    assert result.error == "status 503 (expected 200)"


def test_probe_accepts_listed_statuses(server):
    assert probe(server.url("/down"), timeout=2, expect_status=[200, 503]).ok


def test_probe_body_regex(server):
    matched = probe(server.url("/health"), timeout=2, body_regex=r'"status":\s*"ok"')
    assert matched.ok and matched.body_matched is True
    missed = probe(server.url("/health"), timeout=2, body_regex="ready")
    assert not missed.ok and missed.body_matched is False
    assert missed.error == "body does not match 'ready'"


def test_probe_invalid_regex_raises_naming_it(server):
    with pytest.raises(ProbeError, match=r"body_regex '\(' is not a valid"):
        probe(server.url("/health"), timeout=2, body_regex="(")


def test_probe_sends_headers(server):
    probe(server.url("/health"), timeout=2, headers={"Host": "shop.example.com"})
    assert server.headers_seen[-1]["Host"] == "shop.example.com"


def test_probe_refused_does_not_raise():
    result = probe(closed_port_url(), timeout=1)
    assert not result.ok
    assert result.status is None and result.latency_ms is None
    assert result.error == "connection failed: connection refused"


def test_probe_timeout_does_not_raise(server):
    started = time.monotonic()
    result = probe(server.url("/slow"), timeout=0.1)
    assert time.monotonic() - started < 0.3 + 1.0
    assert not result.ok and result.status is None
    assert result.error == "timed out after 0.1s"


def test_probe_connection_closed_without_answer(server):
    result = probe(server.url("/reset"), timeout=1)
    assert not result.ok and result.status is None
    assert result.error.startswith("connection failed")


def test_probe_rejects_non_http_url():
    with pytest.raises(ProbeError, match="'ftp://x/health' is not an http"):
        probe("ftp://x/health", timeout=1)


def test_probe_tls_self_signed_needs_validate_certs_off(tmp_path):
    pytest.importorskip("cryptography")
    with LocalServer(tls_files=self_signed_cert(str(tmp_path))) as tls:
        refused = probe(tls.url("/health"), timeout=2)
        assert not refused.ok and refused.status is None
        assert refused.error.startswith("TLS error")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the insecure-request warning is expected to be silenced
            accepted = probe(tls.url("/health"), timeout=2, validate_certs=False)
        assert accepted.ok and accepted.status == 200


# wait_healthy

def test_wait_healthy_first_attempt(server):
    waited = wait_healthy(server.url("/health"), timeout=5, interval=0.01)
    assert waited.healthy and waited.attempts == 1 and waited.last.status == 200


def test_wait_healthy_after_warmup(server):
    waited = wait_healthy(server.url("/warmup"), timeout=5, interval=0.01)
    assert waited.healthy
    assert waited.attempts == 4  # three 503s, then 200
    assert server.counts["/warmup"] == 4


def test_wait_healthy_needs_consecutive_successes(server):
    # /flaky answers 200, 200, 500, 200, 200, 500, ...: three in a row never happens
    waited = wait_healthy(server.url("/flaky"), timeout=0.5, interval=0.01, consecutive=3)
    assert not waited.healthy
    assert waited.attempts > 3
    two_in_a_row = wait_healthy(server.url("/flaky"), timeout=5, interval=0.01, consecutive=2)
    assert two_in_a_row.healthy


def test_wait_healthy_times_out_with_last_status(server):
    started = time.monotonic()
    waited = wait_healthy(server.url("/down"), timeout=1.0, interval=0.05)
    assert time.monotonic() - started < 1.0 + 2.0
    assert not waited.healthy
    assert waited.last.error == "status 503 (expected 200)"
    assert waited.attempts >= 2
    assert waited.attempts == server.counts["/down"]


def test_wait_healthy_refused_until_timeout():
    waited = wait_healthy(closed_port_url(), timeout=0.5, interval=0.05)
    assert not waited.healthy and waited.attempts >= 2
    assert waited.last.error == "connection failed: connection refused"


def test_wait_healthy_zero_timeout_is_one_attempt(server):
    waited = wait_healthy(server.url("/down"), timeout=0, interval=1)
    assert waited.attempts == 1 and not waited.healthy


def test_wait_healthy_rejects_consecutive_below_one(server):
    with pytest.raises(ProbeError, match="consecutive must be at least 1, got 0"):
        wait_healthy(server.url("/health"), timeout=1, interval=0.1, consecutive=0)


# percentiles, sampling, evaluation

def test_nearest_rank_method():
    values = [15, 20, 35, 40, 50]
    assert nearest_rank(values, 5) == 15
    assert nearest_rank(values, 30) == 20
    assert nearest_rank(values, 40) == 20
    assert nearest_rank(values, 50) == 35
    assert nearest_rank(values, 100) == 50
    assert nearest_rank([], 95) is None


@pytest.mark.parametrize("percentile", [0, -1, 101])
def test_nearest_rank_rejects_out_of_range(percentile):
    with pytest.raises(StatsError, match="percentile must be in"):
        nearest_rank([1.0], percentile)


def test_summarise_counts_statuses_and_excludes_no_response_from_latency():
    results = [ProbeResult("u", True, 200, float(ms), None) for ms in range(1, 11)]
    results += [ProbeResult("u", False, 500, 50.0, "status 500 (expected 200)"),
                ProbeResult("u", False, None, None, "connection failed: connection refused")]
    stats = summarise("u", results)
    assert (stats.count, stats.failures) == (12, 2)
    assert stats.error_rate == pytest.approx(2 / 12, abs=1e-6)
    assert stats.statuses == {"200": 10, "500": 1, "error": 1}
    assert stats.p50_ms == 6.0 and stats.p90_ms == 10.0 and stats.max_ms == 50.0
    assert "latencies_ms" not in stats.as_dict()


def test_sample_healthy_server(server):
    stats = sample(server.url("/health"), count=20, interval=0)
    assert (stats.count, stats.failures, stats.error_rate) == (20, 0, 0.0)
    assert stats.statuses == {"200": 20}
    assert 0 < stats.p50_ms <= stats.p90_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
    assert evaluate(stats, max_error_rate=0.0, max_latency_ms=1000) == []


def test_sample_flaky_server_every_third_fails(server):
    stats = sample(server.url("/flaky"), count=30, interval=0)
    assert stats.failures == 10
    assert stats.statuses == {"200": 20, "500": 10}
    assert stats.error_rate == pytest.approx(1 / 3, abs=1e-5)
    failures = evaluate(stats, max_error_rate=0.001, max_latency_ms=None)
    assert len(failures) == 1
    assert failures[0].startswith(server.url("/flaky") + ": error rate 0.3333 > 0.001 over 30 samples")


def test_sample_slow_server_fails_latency_gate(server):
    server.slow_seconds = 0.05
    stats = sample(server.url("/slow"), count=4, interval=0)
    assert stats.failures == 0 and stats.p95_ms >= 50
    failures = evaluate(stats, max_error_rate=0.0, max_latency_ms=20, latency_percentile=95)
    assert len(failures) == 1
    assert failures[0].startswith(server.url("/slow") + ": p95 latency ")
    assert "> 20 ms over 4 samples" in failures[0]
    assert evaluate(stats, max_error_rate=0.0, max_latency_ms=5000) == []


def test_sample_refused_counts_every_request_as_failure():
    stats = sample(closed_port_url(), count=3, interval=0)
    assert stats.failures == 3 and stats.error_rate == 1.0
    assert stats.statuses == {"error": 3} and stats.p95_ms is None
    failures = evaluate(stats, max_error_rate=0.5, max_latency_ms=100)
    assert len(failures) == 2
    assert "no response to measure p95 latency over 3 samples" in failures[1]


def test_sample_uses_keep_alive(server):
    sample(server.url("/health"), count=5, interval=0)
    # one TCP connection: the handler saw a single client port for all five requests
    assert len(server.headers_seen) == 5
    assert server.connections_seen() == 1


def test_evaluate_skips_unset_thresholds():
    stats = SampleStats("u", 2, 2, 1.0, None, None, None, None, None, {"error": 2})
    assert evaluate(stats, max_error_rate=None, max_latency_ms=None) == []


def test_sample_rejects_zero_count(server):
    with pytest.raises(ProbeError, match="sample count must be at least 1, got 0"):
        sample(server.url("/health"), count=0, interval=0)


# downloads

def test_fetch_text_and_download(tmp_path, server):
    (tmp_path / "SHA256SUMS").write_text("abc  app.zip\n")
    (tmp_path / "app.zip").write_bytes(b"\x00" * 3000)
    server.files_dir = str(tmp_path)
    assert fetch_text(server.url("/files/SHA256SUMS"), timeout=2) == "abc  app.zip\n"
    target = tmp_path / "copy.zip"
    assert download(server.url("/files/app.zip"), str(target), timeout=2) == 3000
    assert target.read_bytes() == b"\x00" * 3000


def test_fetch_text_and_download_errors_name_url(tmp_path, server):
    server.files_dir = str(tmp_path)
    missing = server.url("/files/SHA256SUMS")
    with pytest.raises(ProbeError, match="cannot fetch %s: status 404" % missing):
        fetch_text(missing, timeout=2)
    with pytest.raises(ProbeError, match="cannot download .*: status 404"):
        download(server.url("/files/app.zip"), str(tmp_path / "x"), timeout=2)
    refused = closed_port_url("/app.zip")
    with pytest.raises(ProbeError, match="cannot download %s: connection failed: connection refused" % refused):
        download(refused, str(tmp_path / "x"), timeout=2)


def test_missing_requests_library_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "requests", None)  # makes "import requests" fail
    with pytest.raises(ProbeError, match="'requests' is needed where HTTP probes run.*pip install requests"):
        probe("http://127.0.0.1:1/health", timeout=1)
