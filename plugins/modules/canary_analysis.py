#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_analysis
short_description: Compare canary servers with stable servers through HAProxy's counters over a window
description:
  - Observes one HAProxy backend for O(interval) seconds and compares the O(canary) servers with the
    O(stable) servers, then returns a verdict V(pass), V(fail) or V(inconclusive) with the figures
    behind it. Fails on V(fail), and on V(inconclusive) when O(fail_on_inconclusive) is set.
  - Reads each server's counters (requests, responses by status class, response time) through the
    HAProxy runtime API at the start and at the end of the window, one round trip each, and works
    on the differences. A group's response time is HAProxy's C(rtime) of each server read at the
    end (HAProxy averages it over the server's last 1024 requests, so it can include requests
    from before the window) weighted by the server's request count in the window.
  - Optionally probes O(canary_urls) and O(stable_urls) straight on the hosts during the window,
    each URL every O(probe_interval) seconds in its own thread, recording status and latency.
  - V(inconclusive) when a group served fewer than O(min_requests) requests in the window.
  - V(fail) when any check fails. The error rate of a group is its errors over its requests with
    a known outcome; errors are 5xx responses plus failed requests, that is requests the servers
    gave no valid response to (HAProxy's connection and response errors C(econ) and C(eresp), which
    HAProxy answers with 502 or 503 itself). The canary error rate must not exceed O(max_error_rate),
    nor the stable error rate by more than O(max_error_rate_increase). The canary response time must
    not exceed O(max_latency_ratio) times the stable response time while above O(latency_floor_ms).
  - "Probes count toward the error checks and the request count: each probe is one more request of
    its group, a probe with a 5xx status or without an HTTP response (refused, reset, timed out) one
    more error. O(min_requests) applies to the same total: answered requests, failed requests and probes."
  - When both groups have at least O(min_probe_samples) probe latencies, a one-sided Mann-Whitney U
    test (normal approximation with tie and continuity corrections) asks whether canary latencies
    tend to be higher; the check fails when its p-value is below O(alpha) and the canary median
    probe latency exceeds O(max_latency_ratio) times the stable median and O(latency_floor_ms),
    so that a significant but tiny difference does not fail a release.
  - "Judging against earlier figures: when the stable group served fewer than O(min_requests) requests in the
    window - at a canary's 100 % step the stable servers take no traffic at all - and O(baseline) holds stable
    figures observed earlier with at least O(min_requests) requests, the canary is judged against O(baseline)
    instead: the same error and response-time checks, with the baseline's error rate and response time in place
    of the window's stable ones (stable probes of the window still go to the Mann-Whitney test, not to the
    error checks). The first reason says so, every sentence that names the stable side calls it
    C(earlier stable figures) followed by the baseline's label, and RV(stable_source) is V(baseline). A baseline that is itself short of
    O(min_requests) does not count: the verdict stays V(inconclusive), saying so."
  - Only reads HAProxy and sends GET requests; C(changed) is always false.
version_added: 0.2.0
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Observing only reads HAProxy's counters and sends GET probes, so the module observes and
        judges for real in check mode too.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details:
      - Runs where the HAProxy socket is reachable, usually delegated to the load balancer host, which
        must also reach O(canary_urls) and O(stable_urls). Needs only the Python standard library.
options:
  socket:
    description:
      - HAProxy runtime API address, either a unix socket path or C(host:port) (C([v6addr]:port) for
        IPv6).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: Name of the HAProxy backend holding the canary and stable servers.
    type: str
    required: true
  canary:
    description: Servers of O(backend) running the release under test.
    type: list
    elements: str
    required: true
  stable:
    description:
      - Servers of O(backend) to compare with.
      - Defaults to every other server of the backend that has a weight above 0 and is not in
        maintenance at the start.
      - May be empty (given as V([]), or none left by the default) only when O(baseline) is given.
    type: list
    elements: str
  interval:
    description: Seconds to observe.
    type: float
    required: true
  min_requests:
    description:
      - Requests each group must serve in the window (answered and failed requests through HAProxy,
        plus probes) for a verdict other than V(inconclusive).
    type: int
    default: 20
  max_error_rate:
    description: Highest canary error rate (probes included) that passes.
    type: float
    default: 0.01
  max_error_rate_increase:
    description: Highest amount by which the canary error rate may exceed the stable error rate.
    type: float
    default: 0.005
  max_latency_ratio:
    description:
      - Highest ratio of canary to stable response time (and of probe medians) that passes.
    type: float
    default: 1.5
  latency_floor_ms:
    description:
      - Latencies (in milliseconds) at or below this never fail the latency checks, whatever the ratio;
        avoids failing on tiny latencies that vary a lot relative to each other.
    type: float
    default: 20
  canary_urls:
    description: URLs probed with GET straight on the canary hosts during the window.
    type: list
    elements: str
    default: []
  stable_urls:
    description: URLs probed with GET straight on the stable hosts during the window.
    type: list
    elements: str
    default: []
  probe_interval:
    description: Seconds between two probes of the same URL.
    type: float
    default: 0.5
  probe_timeout:
    description: Seconds each probe may wait to connect or for more data.
    type: float
    default: 2
  min_probe_samples:
    description: Probe latencies each group needs before the Mann-Whitney test runs.
    type: int
    default: 20
  alpha:
    description: Significance level of the one-sided Mann-Whitney test.
    type: float
    default: 0.05
  fail_on_inconclusive:
    description: Fail the task on an V(inconclusive) verdict instead of returning it.
    type: bool
    default: false
  baseline:
    description:
      - Stable figures observed earlier, to judge the canary against when the stable group serves fewer than
        O(min_requests) requests in the window (see the description). Usually RV(stable) of an earlier run of
        this module, at a step where the stable servers still took traffic, with a C(label) added.
      - "Keys: C(requests), C(responses), C(responses_5xx), C(failed_requests) (required whole numbers >= 0);
        C(response_time_ms) (milliseconds, or null: the response-time check is then skipped);
        C(responses_2xx), C(responses_3xx), C(responses_4xx), C(responses_other), C(servers), C(error_rate)
        (optional; C(error_rate) is worked out again from the counts); C(label), a few words saying where the
        figures came from, such as C(step 2 at 50%), used in the reasons. Any other key is an error."
      - Checked before HAProxy is read; ignored while the window's stable figures are enough.
    type: dict
  on_fail_weights:
    description:
      - Weights (server name to 0-256) to set in the same process when the step fails - a V(fail)
        verdict, an V(inconclusive) one with O(fail_on_inconclusive), or an error such as HAProxy
        reloading in the window - so that traffic is back on the stable servers at once, without
        waiting for another task. Usually the weights from before the canary with the canary servers at 0.
      - Not applied in check mode.
    type: dict
  on_fail_drain:
    description: Servers set to C(drain) together with O(on_fail_weights), usually the canary servers.
    type: list
    elements: str
    default: []
  names:
    description:
      - What the verdict's sentences call the two groups, canary first, for a comparison that is not a canary step
        (a batch of a rolling deployment against the rest of the fleet, for instance).
    type: list
    elements: str
    default: [canary, stable]
    version_added: 0.4.0
  each:
    description:
      - Judge every server of O(canary) on its own against the stable side, from the same window, instead of
        the canary servers as one group, in which one bad server among many would hide. The step fails when
        any server fails (or is inconclusive, with O(fail_on_inconclusive)); every server needs
        O(min_requests) of its own for a verdict.
      - O(on_fail_drain) then drains only the servers that failed on their own; an error that leaves no
        verdict (HAProxy reloading in the window) drains them all.
      - Not with O(canary_urls) or O(stable_urls), which probe the groups as wholes.
    type: bool
    default: false
    version_added: 0.4.0
notes:
  - When the task is delegated (to the load-balancer host) and that host cannot be reached, the task
    fails with a message starting C(unreachable:) instead of making the task's own host
    unreachable, so that host stays in the play and its rescue runs.
  - Redirects are not followed by probes; a 3xx is recorded as the probe's status.
  - Probes do not use proxies from the environment.
  - If HAProxy reloads during the window its counters restart and the module fails saying so.
  - A baseline comes from another window, under another share of the traffic. The canary at 100 % carries
    more load per server than the stable servers did then, and the response-time check sees that too.
seealso:
  - module: lastmile.deploy.haproxy_server
  - module: lastmile.deploy.haproxy_info
"""

EXAMPLES = r"""
- name: Observe the canary for five minutes of real traffic
  lastmile.deploy.canary_analysis:
    backend: myapp
    canary: [web1]
    interval: 300
  delegate_to: "{{ groups['lb'][0] }}"

- name: Compare with named stable servers, probing both groups, and never go on blind
  lastmile.deploy.canary_analysis:
    socket: /run/haproxy/admin.sock
    backend: myapp
    canary: [web1]
    stable: [web2, web3]
    interval: 120
    max_error_rate: 0.001
    canary_urls: [http://10.0.0.11:8080/health]
    stable_urls: [http://10.0.0.12:8080/health, http://10.0.0.13:8080/health]
    probe_interval: 1
    fail_on_inconclusive: true
  delegate_to: "{{ groups['lb'][0] }}"
  register: canary_result

- name: Show what decided it
  ansible.builtin.debug:
    var: canary_result.reasons

- name: All traffic on the canary; judge it against the stable figures of the step before
  lastmile.deploy.canary_analysis:
    backend: myapp
    canary: [web1]
    stable: [web2, web3]
    interval: 120
    fail_on_inconclusive: true
    baseline: "{{ canary_result.stable | combine({'label': 'step 2 at 50%'}) }}"
  delegate_to: "{{ groups['lb'][0] }}"
"""

RETURN = r"""
fallback:
  description: What was done with O(on_fail_weights) when the step failed; absent when nothing had to be done.
  returned: when the step failed and O(on_fail_weights) or O(on_fail_drain) was given
  type: str
  sample: all traffic sent back to the stable servers
verdict:
  description: V(pass), V(fail) or V(inconclusive). Also returned when the module fails on a verdict.
  returned: when the window was observed
  type: str
  sample: fail
reasons:
  description:
    - The checks behind the verdict with their figures and thresholds. For V(fail) the failed
      checks, for V(inconclusive) the groups short of requests, for V(pass) every check.
    - When RV(stable_source) is V(baseline), the first reason says that the stable group was short of
      requests in the window and the canary is judged against the earlier stable figures.
  returned: when the window was observed
  type: list
  elements: str
  sample:
    - canary error rate 0.300 (90/300) > max_error_rate 0.01; stable 0.000 (0/900)
    - canary error rate 0.300 (90/300) - stable 0.000 (0/900) = 0.300 > max_error_rate_increase 0.005
window_s:
  description: Measured seconds between the two reads of the counters.
  returned: when the window was observed
  type: float
  sample: 120.004
canary:
  description:
    - What HAProxy counted for the canary servers in the window. Probes are not included here.
    - C(requests) are requests the servers answered; C(responses) counts every status class;
      C(responses_other) is 1xx plus HAProxy's C(other); C(failed_requests) got no valid response
      from the server (connection or response error).
    - C(error_rate) is (5xx + failed) over (responses + failed), null when both are 0.
    - C(response_time_ms) is null when the group answered no request.
  returned: when the window was observed
  type: dict
  sample:
    servers: [web1]
    requests: 300
    responses: 300
    responses_2xx: 210
    responses_3xx: 0
    responses_4xx: 0
    responses_5xx: 90
    responses_other: 0
    failed_requests: 0
    error_rate: 0.3
    response_time_ms: 14.0
stable:
  description:
    - The same figures for the stable servers in the window, also when the verdict was judged against O(baseline)
      (see RV(stable_source)).
  returned: when the window was observed
  type: dict
  sample:
    servers: [web2, web3]
    requests: 900
    responses: 900
    responses_2xx: 900
    responses_3xx: 0
    responses_4xx: 0
    responses_5xx: 0
    responses_other: 0
    failed_requests: 0
    error_rate: 0.0
    response_time_ms: 11.667
stable_source:
  description:
    - Where the stable side of the verdict came from. V(window) - the stable servers' figures in this window,
      returned as RV(stable) - or V(baseline) - O(baseline), because the stable group served fewer than
      O(min_requests) requests in the window; it is returned as RV(baseline).
  returned: when the window was observed
  type: str
  sample: baseline
baseline:
  description:
    - The stable figures the canary was judged against, as given in O(baseline), with C(error_rate) worked out
      from the counts and C(label) (empty when none was given). RV(stable) still holds the window's own figures.
  returned: when RV(stable_source) is V(baseline)
  type: dict
  sample:
    servers: [web2, web3]
    requests: 1200
    responses: 1200
    responses_2xx: 1199
    responses_3xx: 0
    responses_4xx: 0
    responses_5xx: 1
    responses_other: 0
    failed_requests: 0
    error_rate: 0.000833
    response_time_ms: 11.2
    label: step 2 at 50%
each:
  description:
    - With O(each), every canary server's own verdict, reasons, figures (as RV(canary)) and stable side
      (as RV(stable_source)).
  returned: with O(each) when the window was observed
  type: dict
  sample:
    web1: {verdict: pass, reasons: [batch server web1 error rate 0.000 (0/120) <= max_error_rate 0.010],
           figures: {servers: [web1], requests: 120, responses: 120, responses_2xx: 120, responses_3xx: 0,
                     responses_4xx: 0, responses_5xx: 0, responses_other: 0, failed_requests: 0,
                     error_rate: 0.0, response_time_ms: 9.5},
           stable_source: window}
failed_servers:
  description: With O(each), the canary servers whose own verdict stopped the step.
  returned: with O(each) when the window was observed
  type: list
  elements: str
  sample: [web2]
probes:
  description:
    - Probe figures per group (null for a group without URLs) and the Mann-Whitney test (null when a
      group has fewer than O(min_probe_samples) latencies). C(errors) are probes with a 5xx status or
      no HTTP response; C(p50_ms) and C(p95_ms) are nearest-rank percentiles of probes that got a response.
    - C(u) counts (canary, stable) latency pairs where the canary was slower, ties counting half.
  returned: when O(canary_urls) or O(stable_urls) is given and the window was observed
  type: dict
  sample:
    canary: {count: 240, errors: 0, error_rate: 0.0, p50_ms: 48.2, p95_ms: 61.0}
    stable: {count: 480, errors: 1, error_rate: 0.002083, p50_ms: 12.4, p95_ms: 20.9}
    mann_whitney: {u: 112604.0, z: 18.27, p_value: 0.0, n_canary: 240, n_stable: 479}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.canary.gate import ARGUMENT_SPEC, judge_step


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = judge_step(module.params, module.check_mode)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
