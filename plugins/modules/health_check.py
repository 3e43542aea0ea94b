#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_check
short_description: Wait until an HTTP endpoint is healthy, then check its error rate and latency
version_added: 0.1.0
description:
  - Polls O(url) until it answers with an expected status (and body) O(consecutive) times in a
    row, or fails after O(wait_timeout) seconds naming the last status or network error.
  - With O(samples) greater than 0 it then sends that many requests over one keep-alive
    connection and fails when the error rate exceeds O(max_error_rate) or the
    O(latency_percentile) latency exceeds O(max_latency_ms).
  - "Needs the Python library C(requests) where it runs; by default run it on the controller
    (C(delegate_to: localhost)), which also sees the service the way the network does."
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Probing only sends GET requests, so the module runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description:
      - C(http://) or C(https://) URL probed with GET. Redirects are not followed; list 3xx
        codes in O(expect_status) to accept them.
    type: str
    required: true
  expect_status:
    description:
      - HTTP status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  body_regex:
    description:
      - Regular expression that must match somewhere in the response body (Python C(re.search)).
    type: str
  timeout:
    description:
      - Seconds each request may take to connect or to send more data.
    type: float
    default: 2
  wait_timeout:
    description:
      - Seconds to keep polling until the endpoint is healthy.
      - V(0) means no wait; a single probe decides, and O(consecutive) must then be 1.
    type: float
    default: 60
  interval:
    description:
      - Seconds between polls while waiting.
    type: float
    default: 0.5
  consecutive:
    description:
      - Successful polls in a row needed to count as healthy.
    type: int
    default: 1
  samples:
    description:
      - Requests sent after the endpoint is healthy to measure error rate and latency; V(0) skips sampling.
    type: int
    default: 0
  sample_interval:
    description:
      - Seconds between sample requests.
    type: float
    default: 0.05
  max_error_rate:
    description:
      - Highest acceptable share of failed samples (wrong status, body mismatch or no response),
        from V(0.0) to V(1.0). Only used when O(samples) is greater than 0.
    type: float
    default: 0.0
  max_latency_ms:
    description:
      - Highest acceptable O(latency_percentile) latency of the samples in milliseconds.
        Not checked when omitted.
    type: float
  latency_percentile:
    description:
      - Percentile (nearest-rank, over samples that got a response) compared with O(max_latency_ms).
    type: int
    default: 95
  headers:
    description:
      - Extra request headers, for example C(Host) when probing a server by address, or
        C(Authorization) for a health endpoint behind a token.
      - Values are hidden in the output and logs, since they often carry tokens; a header value
        therefore also hides that text wherever else it appears in the result. Surrounding
        whitespace is removed; a value with a line break is refused.
    type: dict
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https://) URL.
    type: bool
    default: true
  page_urls:
    description:
      - Real pages of the service sampled besides O(url) once it is healthy, O(samples) GET requests each, with the
        same O(headers); a page passes a request with any 2xx or 3xx status (redirects are not followed). Each page
        is judged on its own against O(max_error_rate); O(max_latency_ms) applies to O(url) only.
      - A release that answers its health endpoint but fails real pages is caught here, before it takes traffic.
      - Needs O(samples) greater than 0. Each page must be on the scheme, host and port of O(url), without user info
        (the pages are sent the same O(headers)).
    type: list
    elements: str
    default: []
    version_added: 0.4.0
seealso:
  - module: lastmile.deploy.host_capacity
  - module: lastmile.deploy.artifact_verify
"""

EXAMPLES = r"""
- name: Wait until the new release answers on each host
  lastmile.deploy.health_check:
    url: "http://{{ ansible_host }}:8080/health"
    wait_timeout: 30
    consecutive: 3
  delegate_to: localhost

- name: Gate on error rate and p95 latency over 50 requests
  lastmile.deploy.health_check:
    url: "http://{{ ansible_host }}:8080/health"
    body_regex: '"status":\s*"ok"'
    samples: 50
    max_error_rate: 0.001
    max_latency_ms: 300
    latency_percentile: 95
  delegate_to: localhost
  register: health

- name: Gate on real pages too, not only the health endpoint
  lastmile.deploy.health_check:
    url: "http://{{ ansible_host }}:8080/health"
    samples: 20
    max_error_rate: 0.01
    page_urls:
      - "http://{{ ansible_host }}:8080/"
      - "http://{{ ansible_host }}:8080/cart"
  delegate_to: localhost

- name: Probe a health endpoint that wants a token
  lastmile.deploy.health_check:
    url: "https://{{ ansible_host }}:8443/health"
    headers:
      Authorization: "Bearer {{ vault_health_token }}"
  delegate_to: localhost
"""

RETURN = r"""
healthy:
  description: Whether the endpoint became healthy within O(wait_timeout).
  returned: always
  type: bool
  sample: true
attempts:
  description: Polls sent while waiting until healthy.
  returned: always
  type: int
  sample: 4
status:
  description: HTTP status of the last poll, V(null) when no response came.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Latency of the last poll in milliseconds, V(null) when no response came.
  returned: always
  type: float
  sample: 3.27
error:
  description: Why the last poll failed, V(null) when it succeeded.
  returned: always
  type: str
  sample: "status 503 (expected 200)"
stats:
  description: Figures over the samples. Latencies in milliseconds, nearest-rank percentiles.
  returned: when O(samples) is greater than 0 and the endpoint became healthy
  type: dict
  contains:
    url:
      description: The probed URL.
      type: str
    count:
      description: Requests sent.
      type: int
    failures:
      description: Requests with a wrong status, a body mismatch or no response.
      type: int
    error_rate:
      description: failures / count.
      type: float
    p50_ms:
      description: Median latency, V(null) when no request got a response.
      type: float
    p90_ms:
      description: 90th percentile latency.
      type: float
    p95_ms:
      description: 95th percentile latency.
      type: float
    p99_ms:
      description: 99th percentile latency.
      type: float
    max_ms:
      description: Highest latency.
      type: float
    statuses:
      description: Count per HTTP status; key V(error) counts requests without a response.
      type: dict
  sample:
    url: http://10.0.0.11:8080/health
    count: 50
    failures: 0
    error_rate: 0.0
    p50_ms: 2.1
    p90_ms: 3.4
    p95_ms: 4.0
    p99_ms: 7.9
    max_ms: 7.9
    statuses: {"200": 50}
page_stats:
  description: The figures of each of O(page_urls), in order, with the keys of RV(stats).
  returned: when O(page_urls) is given and the endpoint became healthy
  type: list
  elements: dict
  sample:
    - {url: "http://10.0.0.11:8080/", count: 20, failures: 0, error_rate: 0.0, p50_ms: 2.4, p90_ms: 3.1, p95_ms: 3.3,
       p99_ms: 4.0, max_ms: 4.0, statuses: {"200": 20}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.health.gate import ARGUMENT_SPEC, run


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module.params)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
