# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate interface: a verdict's meaning, and the health probe behind it judging real HTTP endpoints."""

from __future__ import annotations

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.gate import FAIL, INCONCLUSIVE, PASS, Gate, Verdict
from ansible_collections.lastmile.deploy.plugins.module_utils.health.gate import ARGUMENT_SPEC, HealthProbe, ProbeError
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.http_servers import LocalServer


def params(**given):
    defaults = {name: spec.get("default") for name, spec in ARGUMENT_SPEC.items()}
    return dict(defaults, **given)


def test_only_a_failure_blocks_unless_inconclusive_counts_as_one():
    assert Verdict("g", PASS).passed and not Verdict("g", PASS).blocks(True)
    assert Verdict("g", FAIL, ["too many 5xx"]).blocks()
    assert not Verdict("g", INCONCLUSIVE).blocks() and Verdict("g", INCONCLUSIVE).blocks(fail_on_inconclusive=True)
    with pytest.raises(ValueError, match="outcome 'maybe': expected pass, fail or inconclusive"):
        Verdict("g", "maybe")


def test_a_gate_must_judge():
    with pytest.raises(TypeError, match="abstract"):
        Gate()  # pylint: disable=abstract-class-instantiated


@pytest.fixture(scope="module")
def server():
    with LocalServer(slow_seconds=0.05, warmup_failures=0) as running:
        yield running


def test_the_health_probe_passes_a_healthy_endpoint_with_its_figures(server):
    verdict = HealthProbe(params(url=server.url("/health"), samples=5, sample_interval=0.0)).judge()
    assert (verdict.gate, verdict.outcome, verdict.reasons) == ("health probe", PASS, [])
    assert verdict.figures["status"] == 200 and verdict.figures["stats"]["count"] == 5


def test_the_health_probe_fails_without_raising_and_says_why(server):
    url = server.url("/down")
    verdict = HealthProbe(params(url=url, wait_timeout=0)).judge()
    assert verdict.outcome == FAIL and verdict.figures["status"] == 503
    assert verdict.reasons == ["%s did not become healthy on a single probe after 1 attempt(s): last status 503 "
                               "(expected 200)" % url]
    slow = HealthProbe(params(url=server.url("/slow"), samples=3, sample_interval=0.0, max_latency_ms=1)).judge()
    assert slow.outcome == FAIL and "latency" in slow.reasons[0]


def test_a_health_probe_that_cannot_be_asked_raises_before_measuring():
    with pytest.raises(ProbeError, match="timeout must be greater than 0"):
        HealthProbe(params(url="http://127.0.0.1:9/", timeout=0))
