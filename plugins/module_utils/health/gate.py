# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health_check task: wait until an endpoint is healthy, then judge samples of it.

Shared by the module and by its action plugin, which runs it in the controller's own process
when the task runs on the controller (see plugins/action/health_check.py).
"""

from __future__ import annotations

from typing import Any, Dict
from urllib.parse import urlsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError
from ansible_collections.lastmile.deploy.plugins.module_utils.gate import FAIL, PASS, Gate, Verdict
from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import (
    ProbeError,
    WaitResult,
    check_url,
    clean_headers,
    compile_body_regex,
    origin,
    probe,
    sample,
    wait_healthy,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.stats import evaluate

__all__ = ["ARGUMENT_SPEC", "HealthProbe", "ProbeError", "Unhealthy", "check_params", "run"]

ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    url=dict(type="str", required=True),
    expect_status=dict(type="list", elements="int", default=[200]),
    body_regex=dict(type="str"),
    timeout=dict(type="float", default=2.0),
    wait_timeout=dict(type="float", default=60.0),
    interval=dict(type="float", default=0.5),
    consecutive=dict(type="int", default=1),
    samples=dict(type="int", default=0),
    sample_interval=dict(type="float", default=0.05),
    max_error_rate=dict(type="float", default=0.0),
    max_latency_ms=dict(type="float"),
    latency_percentile=dict(type="int", default=95),
    headers=dict(type="dict", no_log=True),
    validate_certs=dict(type="bool", default=True),
    page_urls=dict(type="list", elements="str", default=[]),
)

# what a page (page_urls) may answer: the page itself or a redirect, never an error
PAGE_STATUSES = tuple(range(200, 400))


def _same_origin(page: str, url: str) -> bool:
    try:
        parts = urlsplit(page)
        return origin(page) == origin(url) and parts.username is None and "\\" not in page
    except ValueError:
        return False


class Unhealthy(LastmileError):
    """The endpoint did not pass its health gate; ``result`` holds the last probe and the samples."""


def check_params(params: dict) -> None:
    """Raise ProbeError naming the first option the probe would refuse, before any request is sent."""
    check_url(params["url"])
    compile_body_regex(params["body_regex"])
    clean_headers(params["headers"])
    if params["timeout"] <= 0:
        raise ProbeError("timeout must be greater than 0, got %r" % params["timeout"])
    if params["interval"] < 0 or params["sample_interval"] < 0:
        raise ProbeError(
            "interval and sample_interval must be 0 or more, got %r and %r"
            % (params["interval"], params["sample_interval"])
        )
    if params["wait_timeout"] < 0:
        raise ProbeError("wait_timeout must be 0 or more, got %r" % params["wait_timeout"])
    if params["wait_timeout"] == 0 and params["consecutive"] != 1:
        raise ProbeError(
            "consecutive=%d needs wait_timeout > 0: with wait_timeout=0 a single probe decides"
            % params["consecutive"]
        )
    if params["samples"] < 0:
        raise ProbeError("samples must be 0 or more, got %r" % params["samples"])
    if not 0 <= params["max_error_rate"] <= 1:
        raise ProbeError("max_error_rate must be between 0 and 1, got %r" % params["max_error_rate"])
    if params["page_urls"] and not params["samples"]:
        raise ProbeError("page_urls needs samples > 0: each page is sampled as often as the endpoint")
    # pages get the same headers (often a token): never another host's
    elsewhere = [page for page in params["page_urls"] if not _same_origin(page, params["url"])]
    if elsewhere:
        raise ProbeError("page_urls %s: expected pages of %s (same scheme, host and port, no user info), since they are "
                         "sent the same headers" % (", ".join(elsewhere), origin(params["url"])))
    if not 0 < params["latency_percentile"] <= 100:
        raise ProbeError("latency_percentile must be between 1 and 100, got %r" % params["latency_percentile"])


class HealthProbe(Gate):
    """The health gate of a host: its health URL answers as expected (within a wait), then a sample of requests
    stays within the error and latency limits."""

    name = "health probe"

    def __init__(self, params: dict) -> None:
        check_params(params)
        self.params = params

    def judge(self) -> Verdict:
        params = self.params
        request = dict(
            expect_status=params["expect_status"],
            body_regex=params["body_regex"],
            headers=clean_headers(params["headers"]),
            validate_certs=params["validate_certs"],
        )
        url = params["url"]
        if params["wait_timeout"] == 0:
            first = probe(url, params["timeout"], **request)
            waited = WaitResult(first.ok, 1, 0.0, first)
        else:
            waited = wait_healthy(
                url, params["wait_timeout"], params["interval"], params["consecutive"],
                request_timeout=params["timeout"], **request
            )
        last = waited.last
        figures = dict(healthy=waited.healthy, attempts=waited.attempts, status=last.status,
                       latency_ms=last.latency_ms, error=last.error)
        if not waited.healthy:
            within = "within %gs" % params["wait_timeout"] if params["wait_timeout"] else "on a single probe"
            return Verdict(self.name, FAIL, ["%s did not become healthy %s after %d attempt(s): last %s" % (
                url, within, waited.attempts,
                last.error or "poll succeeded but fewer than %d in a row" % params["consecutive"])], figures)
        if params["samples"]:
            stats = sample(
                url, params["samples"], params["sample_interval"], request_timeout=params["timeout"], **request
            )
            figures["stats"] = stats.as_dict()
            failures = evaluate(stats, params["max_error_rate"], params["max_latency_ms"], params["latency_percentile"])
            page_request = {**request, "expect_status": PAGE_STATUSES, "body_regex": None}
            pages = [sample(page, params["samples"], params["sample_interval"], request_timeout=params["timeout"],
                            **page_request) for page in params["page_urls"]]
            if pages:
                figures["page_stats"] = [page.as_dict() for page in pages]
            # a page's latency is its own business: the latency limit is the health endpoint's
            failures += [failure for page in pages for failure in evaluate(page, params["max_error_rate"], None)]
            if failures:
                return Verdict(self.name, FAIL, failures, figures)
        return Verdict(self.name, PASS, [], figures)


def run(params: dict) -> dict:
    """The task's result; raises Unhealthy, carrying what was seen, when the endpoint fails its gate."""
    verdict = HealthProbe(params).judge()
    result = dict(verdict.figures, changed=False)
    if verdict.blocks():
        raise Unhealthy("; ".join(verdict.reasons), result=result)
    return result
