# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lastmile.deploy.canary_analysis against a real HAProxy with traffic through its frontend."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.modules import canary_analysis
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures import run_module
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, started_lab  # noqa: F401 pylint: disable=unused-import
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import run_ansible

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)

WINDOW = 2.0


class _Canary(http.server.BaseHTTPRequestHandler):
    """/health always 200; other requests 500 every `every`-th time and after `delay` seconds."""

    every = 0
    delay = 0.0
    lock = threading.Lock()
    count = 0

    def do_GET(self):  # noqa: N802 - name fixed by the base class
        status = 200
        if self.path != "/health":
            with self.lock:
                type(self).count += 1
                if self.every and self.count % self.every == 0:
                    status = 500
            time.sleep(self.delay)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def lab(started_lab):
    started_lab.reset()
    original = started_lab.apps["web1"].RequestHandlerClass
    yield started_lab
    started_lab.apps["web1"].RequestHandlerClass = original


def canary_behaviour(lab, every=0, delay=0.0):
    """Make web1 (the canary) answer 500 every `every`-th request and take `delay` seconds."""
    handler = type("Canary", (_Canary,), dict(every=every, delay=delay, count=0))
    lab.apps["web1"].RequestHandlerClass = handler


@contextlib.contextmanager
def traffic(lab):
    """Requests through the frontend, one after another, until the block ends; yields their statuses."""
    stop = threading.Event()
    statuses = []

    def send():
        while not stop.is_set():
            statuses.append(lab.request("/")[0])

    sender = threading.Thread(target=send)
    sender.start()
    try:
        yield statuses
    finally:
        stop.set()
        sender.join()


def run(lab, check_mode=False, **args):
    args = dict(dict(socket=lab.admin_socket, backend="app", canary=["web1"], interval=WINDOW), **args)
    return run_module.in_process(canary_analysis.main, args, check_mode)


def url(lab, name, path="/probe"):
    return "http://127.0.0.1:%d%s" % (lab.apps[name].server_address[1], path)


def test_canary_answering_500_fails_with_figures(lab):
    canary_behaviour(lab, every=3)
    with traffic(lab) as statuses:
        result = run(lab)
    assert statuses.count(500) > 0
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["verdict"] == "fail"
    canary, stable = result["canary"], result["stable"]
    assert canary["servers"] == ["web1"]
    # Stable defaults to the other ready servers with weight > 0: web2, and web3 which is DOWN.
    assert stable["servers"] == ["web2", "web3"]
    assert canary["responses"] == canary["responses_2xx"] + canary["responses_5xx"] >= 20
    assert canary["error_rate"] == pytest.approx(1 / 3.0, abs=0.02)
    assert canary["error_rate"] == round(float(canary["responses_5xx"]) / canary["responses"], 6)
    assert (stable["responses_5xx"], stable["error_rate"]) == (0, 0.0)
    # web2 weighs twice web1 in round robin
    assert stable["requests"] == pytest.approx(2 * canary["requests"], rel=0.1)
    expected = "canary error rate %.3f (%d/%d) > max_error_rate 0.01; stable 0.000 (0/%d)" % (
        canary["error_rate"], canary["responses_5xx"], canary["responses"], stable["responses"])
    assert result["reasons"][0] == expected
    assert result["msg"].startswith(
        "canary analysis of backend 'app' failed (canary web1 vs stable web2, web3 over %.1fs): %s; "
        % (result["window_s"], expected))
    assert "max_error_rate_increase 0.005" in result["msg"]
    assert WINDOW <= result["window_s"] < WINDOW + 1
    assert "probes" not in result


def test_healthy_canary_passes_in_check_mode_too(lab):
    with traffic(lab):
        result = run(lab, check_mode=True, stable=["web2"])
    assert "failed" not in result, result.get("msg")
    assert (result["verdict"], result["changed"]) == ("pass", False)
    assert result["stable"]["servers"] == ["web2"]
    assert result["canary"]["requests"] >= 20 and result["stable"]["requests"] >= 20
    assert result["reasons"][0].startswith("canary error rate 0.000 (0/%d) <= max_error_rate 0.01; stable 0.000 (0/%d)"
                                           % (result["canary"]["responses"], result["stable"]["responses"]))
    assert len(result["reasons"]) == 3


def test_no_traffic_is_inconclusive_and_fails_only_when_asked(lab):
    result = run(lab, interval=1.0)
    assert "failed" not in result
    assert result["verdict"] == "inconclusive"
    assert result["reasons"] == [
        "canary served 0 requests in the window, fewer than min_requests 20",
        "stable served 0 requests in the window, fewer than min_requests 20",
    ]
    assert result["canary"]["error_rate"] is None and result["canary"]["response_time_ms"] is None
    strict = run(lab, interval=0.5, fail_on_inconclusive=True)
    assert strict["failed"] is True
    assert strict["verdict"] == "inconclusive"
    assert "is inconclusive" in strict["msg"] and "fail_on_inconclusive is set" in strict["msg"]


def test_slow_canary_probes_fail_the_mann_whitney_check(lab):
    canary_behaviour(lab, delay=0.05)
    result = run(lab, canary_urls=[url(lab, "web1")], stable_urls=[url(lab, "web2")], probe_interval=0.05,
                 min_requests=10)
    assert result["verdict"] == "fail", result["reasons"]
    probes = result["probes"]
    assert probes["canary"]["count"] >= 20 and probes["stable"]["count"] >= 20
    assert probes["canary"]["errors"] == probes["stable"]["errors"] == 0
    assert probes["canary"]["p50_ms"] >= 50
    assert probes["canary"]["p50_ms"] > 1.5 * probes["stable"]["p50_ms"]
    test = probes["mann_whitney"]
    assert (test["n_canary"], test["n_stable"]) == (probes["canary"]["count"], probes["stable"]["count"])
    assert test["p_value"] < 0.05 and test["z"] > 0
    assert [reason.split(";")[0] for reason in result["reasons"]] == [
        "probe latency Mann-Whitney U %.1f, z %.3f, one-sided p %.4f < alpha 0.05" % (
            test["u"], test["z"], test["p_value"])
    ]
    # No request went through HAProxy: the probes alone made the count.
    assert result["canary"]["requests"] == 0


def test_unknown_servers_are_named_before_any_wait(lab):
    started = time.monotonic()
    result = run(lab, canary=["web1", "ghost"], stable=["web2", "phantom"], interval=30)
    assert time.monotonic() - started < 5
    assert result["failed"] is True
    assert result["msg"] == (
        "server 'ghost', 'phantom' not found in backend 'app'; known servers: web1, web2, web3, web4"
    )
    assert "verdict" not in result


def test_bad_threshold_is_named_and_moves_no_traffic(lab):
    before = lab.state()
    result = run(lab, alpha=1.5, interval=30, on_fail_weights={"web1": 0}, on_fail_drain=["web1"])
    assert (result["failed"], result["changed"]) == (True, False)
    assert result["msg"] == "alpha is 1.5; expected a number in (0, 1)"
    assert "fallback" not in result and lab.state() == before


def test_failed_step_sends_traffic_back_to_stable_in_the_same_instant(lab):
    canary_behaviour(lab, every=2)
    with traffic(lab) as statuses:
        result = run(lab, on_fail_weights={"web1": 0, "web2": 20}, on_fail_drain=["web1"])
        # requests go one at a time: at most one was still on its way to the canary
        judged = len(statuses) + 1
        time.sleep(0.5)
    after_verdict = statuses[judged:]
    assert result["failed"] is True and result["verdict"] == "fail"
    assert result["fallback"] == "all traffic sent back to the stable servers" and result["changed"] is True
    state = lab.state()
    assert state["web1"] == (0x08, 0), state  # forced drain, weight 0
    assert state["web2"][1] == 20
    assert after_verdict and 500 not in after_verdict, after_verdict


def test_failed_step_in_check_mode_moves_no_traffic(lab):
    canary_behaviour(lab, every=2)
    before = lab.state()
    with traffic(lab):
        result = run(lab, check_mode=True, on_fail_weights={"web1": 0}, on_fail_drain=["web1"])
    assert result["verdict"] == "fail" and result["fallback"] == "check mode: traffic not moved"
    assert lab.state() == before


def test_a_passing_step_moves_no_traffic(lab):
    before = lab.state()
    with traffic(lab):
        result = run(lab, stable=["web2"], on_fail_weights={"web1": 0}, on_fail_drain=["web1"])
    assert "failed" not in result and "fallback" not in result
    assert lab.state() == before


# --- the full-traffic step: judged against earlier stable figures ------------------------------------

def all_traffic_to_the_canary(lab):
    """The weights of a canary's 100 % step: the stable servers keep running but take no request."""
    for name in ("web2", "web3"):
        lab.send("set server app/%s weight 0" % name)


def earlier_step(lab):
    """The stable figures of a step where web2 still took traffic, labelled as the canary role labels them."""
    with traffic(lab):
        result = run(lab, stable=["web2"])
    assert result["verdict"] == "pass" and result["stable_source"] == "window", result.get("msg")
    return dict(result["stable"], label="step 2 at 50%")


def test_without_stable_traffic_the_canary_is_judged_against_the_earlier_figures(lab):
    baseline = earlier_step(lab)
    all_traffic_to_the_canary(lab)
    with traffic(lab) as statuses:
        result = run(lab, stable=["web2"], baseline=baseline, fail_on_inconclusive=True)
    assert set(statuses) == {200}
    assert "failed" not in result, result.get("msg")
    assert (result["verdict"], result["stable_source"]) == ("pass", "baseline")
    assert result["stable"]["requests"] < 20 <= result["canary"]["requests"]
    assert result["baseline"] == dict(baseline, error_rate=0.0)
    assert result["reasons"][0] == (
        "stable served %d requests in the window, fewer than min_requests 20: the canary is judged against the "
        "earlier stable figures (step 2 at 50%%), %d requests" % (result["stable"]["requests"], baseline["requests"]))
    assert result["reasons"][1] == (
        "canary error rate 0.000 (0/%d) <= max_error_rate 0.01; earlier stable figures (step 2 at 50%%) 0.000 (0/%d)"
        % (result["canary"]["responses"], baseline["responses"]))
    # the same window without the earlier figures: too few stable requests, the step fails as inconclusive
    with traffic(lab):
        blind = run(lab, stable=["web2"], fail_on_inconclusive=True)
    assert (blind["failed"], blind["verdict"], blind["stable_source"]) == (True, "inconclusive", "window")
    assert "baseline" not in blind


def test_a_canary_answering_500_fails_against_the_earlier_figures_and_traffic_goes_back(lab):
    baseline = earlier_step(lab)
    canary_behaviour(lab, every=3)
    all_traffic_to_the_canary(lab)
    with traffic(lab):
        result = run(lab, baseline=baseline, fail_on_inconclusive=True,
                     on_fail_weights={"web1": 0, "web2": 20}, on_fail_drain=["web1"])
    assert (result["failed"], result["verdict"], result["stable_source"]) == (True, "fail", "baseline")
    # the default stable group is empty at 100 %: every other server has weight 0 or is in maintenance
    assert result["stable"]["servers"] == []
    assert result["msg"].startswith(
        "canary analysis of backend 'app' failed (canary web1 over %.1fs vs the earlier stable figures "
        "(step 2 at 50%%)): stable served 0 requests in the window" % result["window_s"])
    assert "> max_error_rate 0.01; earlier stable figures (step 2 at 50%) 0.000" in result["msg"]
    assert result["fallback"] == "all traffic sent back to the stable servers"
    assert lab.state()["web1"] == (0x08, 0) and lab.state()["web2"][1] == 20


def test_no_stable_server_with_weight_and_no_baseline_is_named(lab):
    all_traffic_to_the_canary(lab)
    result = run(lab, interval=30)
    assert result["failed"] is True and "verdict" not in result
    assert result["msg"] == (
        "backend 'app' has no stable server: every server other than web1 has weight 0 or is in maintenance; "
        "name the stable servers in 'stable', or give a 'baseline'")


def test_a_bad_baseline_is_refused_through_the_cli_before_anything_is_read(lab):
    before = lab.state()
    started = time.monotonic()
    rc, result = run_ansible("canary_analysis", dict(
        socket=lab.admin_socket, backend="app", canary=["web1"], interval=30, on_fail_weights={"web1": 0},
        baseline={"requests": 400, "responses": 400, "responses_5xx": 0, "failed_requests": "none"}))
    assert time.monotonic() - started < 25
    assert rc != 0
    assert result["msg"] == "baseline failed_requests is 'none'; expected a whole number >= 0"
    assert "verdict" not in result and "fallback" not in result and result["changed"] is False
    assert lab.state() == before


def test_the_full_traffic_step_through_the_cli(lab):
    baseline = earlier_step(lab)
    all_traffic_to_the_canary(lab)
    with traffic(lab):
        rc, result = run_ansible("canary_analysis", dict(
            socket=lab.admin_socket, backend="app", canary=["web1"], stable=["web2"], interval=WINDOW,
            baseline=baseline, fail_on_inconclusive=True))
    assert rc == 0, result.get("msg")
    assert (result["verdict"], result["stable_source"]) == ("pass", "baseline")
    assert result["baseline"] == dict(baseline, error_rate=0.0)
