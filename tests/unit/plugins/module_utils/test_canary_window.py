# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Observation window: group selection, counter parsing, urllib probes, a window on a real HAProxy."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.analysis import Counters, ProbeSample
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.window import (
    WindowError,
    check_urls,
    observe,
    probe_url,
    select_groups,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.pool import HAProxyPool, counters_from_stat
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.runtime import HAProxyError
from ansible_collections.lastmile.deploy.plugins.module_utils.haproxy.state import Server, parse_stat
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, HAProxyLab
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer, closed_port_url

needs_haproxy = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)


def server(name, weight=10, admin="ready"):
    return Server(backend="app", name=name, address="127.0.0.1", port=80, admin=admin, status="UP", up=True,
                  weight=weight, initial_weight=weight)


SERVERS = {
    "web1": server("web1"),
    "web2": server("web2", weight=20),
    "web3": server("web3", weight=0),
    "web4": server("web4", admin="maint"),
    "web5": server("web5", admin="drain"),
}


# --- groups -----------------------------------------------------------------------------------

def test_stable_defaults_to_weighted_servers_not_in_maintenance():
    assert select_groups("app", SERVERS, ["web1"], None) == (["web1"], ["web2", "web5"])


def test_explicit_stable_is_kept_in_order_without_duplicates():
    assert select_groups("app", SERVERS, ["web2", "web2"], ["web4", "web1", "web4"]) == (["web2"], ["web4", "web1"])


@pytest.mark.parametrize("canary, stable, error, message", [
    (["web1", "web9"], None, HAProxyError,
     "server 'web9' not found in backend 'app'; known servers: web1, web2, web3, web4, web5"),
    (["web1"], ["web2", "nope"], HAProxyError,
     "server 'nope' not found in backend 'app'; known servers: web1, web2, web3, web4, web5"),
    (["web1", "web2"], ["web2"], WindowError, "server web2 is both canary and stable; a server belongs to one group"),
    ([], None, WindowError, "canary names no server; expected at least one server of backend 'app'"),
    (["web1"], [], WindowError, "stable names no server; expected at least one server of backend 'app'"),
])
def test_bad_groups_are_named(canary, stable, error, message):
    with pytest.raises(error) as raised:
        select_groups("app", SERVERS, canary, stable)
    assert str(raised.value) == message


def test_no_default_stable_server_left():
    with pytest.raises(WindowError, match="backend 'app' has no stable server: every server other than web1, web2, "
                                          "web5 has weight 0 or is in maintenance"):
        select_groups("app", SERVERS, ["web1", "web2", "web5"], None)


# --- counters ---------------------------------------------------------------------------------

STAT = """\
# pxname,svname,econ,eresp,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,req_tot,rtime
fe,FRONTEND,,,0,900,0,0,0,0,900,
app,web1,1,2,3,4,5,6,7,8,33,9
app,web2,0,0,0,100,0,0,0,0,100,12
app,BACKEND,1,2,3,104,5,6,7,8,133,11
api,web1,0,0,0,50,0,0,0,0,50,4
"""


def test_counters_come_from_the_server_rows_of_the_backend():
    assert counters_from_stat(parse_stat(STAT), "app") == {
        "web1": Counters(requests=33, responses_1xx=3, responses_2xx=4, responses_3xx=5, responses_4xx=6,
                         responses_5xx=7, responses_other=8, connection_errors=1, response_errors=2,
                         response_time_ms=9),
        "web2": Counters(requests=100, responses_2xx=100, response_time_ms=12),
    }
    assert counters_from_stat(parse_stat(STAT), "app")["web1"].responses == 3 + 4 + 5 + 6 + 7 + 8


# --- probes -----------------------------------------------------------------------------------

class _Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - name fixed by the base class
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_probe_records_status_and_latency():
    with LocalServer() as local:
        ok, down, missing = (probe_url(local.url(path), 2.0) for path in ("/health", "/down", "/nothing"))
    assert (ok.status, ok.failed, ok.error) == (200, False, None)
    assert 0 < ok.latency_ms < 2000
    assert (down.status, down.failed) == (503, True)
    assert (missing.status, missing.failed) == (404, False)
    assert down.latency_ms > 0


def test_probe_without_response_is_a_failure():
    url = closed_port_url()
    refused = probe_url(url, 1.0)
    assert (refused.status, refused.latency_ms, refused.failed) == (None, None, True)
    assert refused.error.startswith(url + ": ")
    with LocalServer(slow_seconds=1.0) as local:
        slow = probe_url(local.url("/slow"), 0.2)
        reset = probe_url(local.url("/reset"), 1.0)
    assert (slow.status, slow.failed) == (None, True)
    assert "timed out" in slow.error
    assert (reset.status, reset.failed) == (None, True)


def test_probe_does_not_follow_redirects():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        result = probe_url("http://127.0.0.1:%d/" % httpd.server_address[1], 2.0)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (result.status, result.failed) == (302, False)


def test_urls_must_be_http():
    assert check_urls("canary_urls", ["http://a/", "HTTPS://b/"]) == ["http://a/", "HTTPS://b/"]
    with pytest.raises(WindowError) as error:
        check_urls("stable_urls", ["http://a/", "ftp://b/x"])
    assert str(error.value) == "stable_urls holds 'ftp://b/x'; expected http:// or https:// URLs"


# --- a window on a real HAProxy ---------------------------------------------------------------

@pytest.fixture(scope="module")
def lab():
    lab = HAProxyLab().start()
    yield lab
    lab.stop()


@needs_haproxy
def test_window_sees_the_traffic_sent_in_it_and_probes_on_schedule(lab):
    lab.reset()
    pool = HAProxyPool("app", lab.admin_socket)
    seen = []

    def fake_probe(url, timeout):
        seen.append((url, timeout))
        return ProbeSample(200, 1.0)

    stop = threading.Event()
    sent = []

    def load():
        while not stop.is_set():
            sent.append(lab.request("/")[0])

    loader = threading.Thread(target=load)
    window = None

    def sent_more_than(count):
        deadline = time.monotonic() + 10
        while len(sent) <= count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sent) > count, "the load sent nothing in 10 s"

    try:
        # The load runs before and after the window too (at least one request each, also on a busy
        # machine): only the window's share may show up.
        loader.start()
        sent_more_than(0)
        window = observe(pool, ["web1", "web2"], 1.0, canary_urls=["http://c/"],
                         stable_urls=["http://s1/", "http://s2/"], probe_interval=0.1, probe_timeout=0.5,
                         probe=fake_probe)
        sent_more_than(len(sent))
    finally:
        stop.set()
        loader.join()
    during = sum(window.after[name].requests - window.before[name].requests for name in ("web1", "web2"))
    assert 0 < during < len(sent)
    assert set(sent) == {200}
    assert 1.0 <= window.window_s < 1.5
    # Each URL in its own thread, every 0.1 s for 1 s: at most 11 probes each (at 0, 0.1, ... 1.0 s).
    assert 5 <= len(window.canary_probes) <= 11
    assert 10 <= len(window.stable_probes) <= 22
    assert set(seen) == {("http://c/", 0.5), ("http://s1/", 0.5), ("http://s2/", 0.5)}


@needs_haproxy
def test_window_without_urls_has_no_probes_and_rejects_bad_timing(lab):
    lab.reset()
    pool = HAProxyPool("app", lab.admin_socket)
    window = observe(pool, ["web1"], 0.2)
    assert (window.canary_probes, window.stable_probes) == (None, None)
    assert window.before["web1"] == window.after["web1"]
    with pytest.raises(WindowError, match="probe_interval is 0; expected a number of seconds > 0"):
        observe(pool, ["web1"], 1.0, canary_urls=["http://c/"], probe_interval=0)


@needs_haproxy
def test_the_counters_name_servers_that_are_gone(lab):
    with pytest.raises(HAProxyError) as error:
        HAProxyPool("app", lab.admin_socket).counters(["web1", "ghost"])
    assert str(error.value) == "server 'ghost' no longer in backend 'app' of HAProxy at %s; was HAProxy reloaded?" % (
        lab.admin_socket)


def test_probe_failures_are_described_as_every_probe_describes_them():
    url = closed_port_url()
    assert probe_url(url, 1.0).error == url + ": connection failed: connection refused"
    with LocalServer(slow_seconds=1.0) as local:
        slow_url = local.url("/slow")
        assert probe_url(slow_url, 0.2).error == slow_url + ": timed out after 0.2s"


PROBE_WITHOUT_REQUESTS = """
import json, sys
sys.modules["requests"] = None  # as on a host without it: importing it fails
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.window import probe_url
sample = probe_url(sys.argv[1], 2.0)
print(json.dumps([sample.status, sample.error]))
"""


def test_canary_probes_need_nothing_beyond_the_standard_library():
    with LocalServer() as local:
        done = subprocess.run([sys.executable, "-c", PROBE_WITHOUT_REQUESTS, local.url("/health")], capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [200, None]
