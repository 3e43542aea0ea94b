# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_analysis with each: every canary server judged on its own, from one window of a real HAProxy."""

from __future__ import annotations

import os

import pytest

from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures.haproxy_lab import HAPROXY_BIN, started_lab  # noqa: F401 pylint: disable=unused-import
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.test_canary_analysis import (  # noqa: F401 pylint: disable=unused-import
    canary_behaviour,
    earlier_step,
    lab,
    run,
    traffic,
    url,
)

pytestmark = pytest.mark.skipif(not os.access(HAPROXY_BIN, os.X_OK), reason="%s is not installed" % HAPROXY_BIN)

# web1 answers 500 every 10th request: about 10 % of its own, about 3 % of the two servers together
LIMITS = dict(max_error_rate=0.06, max_error_rate_increase=0.06)
DRAIN = 0x08


def test_one_bad_server_that_hides_in_the_group_fails_on_its_own_and_only_it_is_drained(lab):
    baseline = earlier_step(lab)
    canary_behaviour(lab, every=10)
    with traffic(lab):
        grouped = run(lab, canary=["web1", "web2"], stable=[], baseline=baseline, **LIMITS)
    assert grouped["verdict"] == "pass", grouped.get("msg")
    with traffic(lab):
        result = run(lab, canary=["web1", "web2"], stable=[], baseline=baseline, each=True,
                     on_fail_drain=["web1", "web2"], names=["batch", "rest of the fleet"], **LIMITS)
    assert result["failed"] is True and result["verdict"] == "fail"
    assert result["failed_servers"] == ["web1"]
    assert (result["each"]["web1"]["verdict"], result["each"]["web2"]["verdict"]) == ("fail", "pass")
    assert result["each"]["web1"]["figures"]["servers"] == ["web1"]
    assert result["each"]["web1"]["figures"]["responses_5xx"] > 0 == result["each"]["web2"]["figures"]["responses_5xx"]
    assert result["canary"]["servers"] == ["web1", "web2"]
    assert result["msg"].startswith("judging the LB counters of backend 'app' failed (batch web1, web2 over ")
    assert "s vs the earlier stable figures (step 2 at 50%); each server on its own, stopped by web1): " in result["msg"]
    assert "batch server web1 error rate" in result["msg"]
    assert "web2 error rate" not in result["msg"]
    state = lab.state()
    assert state["web1"][0] == DRAIN and state["web2"][0] != DRAIN, state
    assert result["fallback"] == "all traffic sent back to the stable servers"


def test_servers_that_all_pass_on_their_own_are_named(lab):
    baseline = earlier_step(lab)
    with traffic(lab):
        result = run(lab, canary=["web1", "web2"], stable=[], baseline=baseline, each=True, **LIMITS)
    assert "failed" not in result, result.get("msg")
    assert result["reasons"] == ["every canary server passed on its own: web1, web2"]
    assert result["failed_servers"] == [] and result["stable_source"] == "baseline"
    assert result["baseline"] == dict(baseline, error_rate=0.0)


def test_every_server_passing_passes_with_each_verdict(lab):
    with traffic(lab):
        result = run(lab, canary=["web1"], stable=["web2"], each=True, on_fail_drain=["web1"])
    assert "failed" not in result, result.get("msg")
    assert result["verdict"] == "pass" and result["failed_servers"] == []
    assert list(result["each"]) == ["web1"] and result["each"]["web1"]["verdict"] == "pass"
    assert result["each"]["web1"]["figures"]["requests"] == result["canary"]["requests"] >= 20
    # one server alone is the group: its sentences read as a group's
    assert result["reasons"] == result["each"]["web1"]["reasons"]
    assert result["reasons"][0].startswith("canary error rate 0.000 (0/")


@pytest.mark.parametrize("probes", ["canary_urls", "stable_urls"])
def test_each_with_probes_of_the_groups_is_refused_before_anything_is_read(lab, probes):
    before = lab.state()
    result = run(lab, canary=["web1"], stable=["web2"], each=True, interval=30, on_fail_drain=["web1"],
                 **{probes: [url(lab, "web1" if probes == "canary_urls" else "web2")]})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("each judges every canary server on its own counters, and canary_urls and stable_urls "
                             "probe the groups as wholes: leave the URLs out, or each")
    assert lab.state() == before
