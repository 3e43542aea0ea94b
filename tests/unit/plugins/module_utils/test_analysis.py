# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary analysis core: figures, the Mann-Whitney U test and the verdict rules."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.canary.analysis import (
    AnalysisError,
    Baseline,
    Counters,
    GroupFigures,
    ProbeSample,
    Thresholds,
    analyse,
    baseline_from_dict,
    group_figures,
    mann_whitney_greater,
    midranks,
    probe_figures,
)


def figures(requests=0, responses_5xx=0, response_time_ms=None, failed=0, servers=("s",), **others) -> GroupFigures:
    """Group figures with `requests` answered, of which `responses_5xx` 5xx and the rest 2xx."""
    counts = dict(responses_3xx=0, responses_4xx=0, responses_other=0)
    counts.update(others)
    responses_2xx = requests - responses_5xx - sum(counts.values())
    responses = requests
    error_rate = float(responses_5xx + failed) / (responses + failed) if responses + failed else None
    if response_time_ms is None and requests:
        response_time_ms = 10.0
    return GroupFigures(
        servers=list(servers), requests=requests, responses=responses, responses_2xx=responses_2xx,
        responses_5xx=responses_5xx, failed_requests=failed, error_rate=error_rate,
        response_time_ms=response_time_ms, **counts
    )


def probes(latencies=(), errors=0, no_response=0):
    """Probe figures: one 200 per latency, `errors` of them turned into 503s, plus probes without response."""
    samples = [ProbeSample(503 if index < errors else 200, latency) for index, latency in enumerate(latencies)]
    samples += [ProbeSample(None, None, "refused")] * no_response
    return probe_figures(samples)


# --- thresholds -------------------------------------------------------------------------------

def test_default_thresholds_are_the_documented_ones():
    assert Thresholds().validate() == Thresholds(
        min_requests=20, max_error_rate=0.01, max_error_rate_increase=0.005, max_latency_ratio=1.5,
        latency_floor_ms=20, min_probe_samples=20, alpha=0.05,
    )


@pytest.mark.parametrize("field, value, expected", [
    ("alpha", 0, "alpha is 0; expected a number in (0, 1)"),
    ("alpha", 1.0, "alpha is 1.0; expected a number in (0, 1)"),
    ("max_error_rate", 1.5, "max_error_rate is 1.5; expected a number in [0, 1]"),
    ("max_latency_ratio", 0.5, "max_latency_ratio is 0.5; expected a number >= 1"),
    ("min_requests", -1, "min_requests is -1; expected a number >= 0"),
    ("min_probe_samples", 0, "min_probe_samples is 0; expected a number >= 1"),
    ("latency_floor_ms", float("nan"), "latency_floor_ms is nan; expected a number >= 0"),
    ("min_requests", True, "min_requests is True; expected a number >= 0"),
    ("max_error_rate", "0.1", "max_error_rate is '0.1'; expected a number in [0, 1]"),
])
def test_thresholds_out_of_range_are_named(field, value, expected):
    with pytest.raises(AnalysisError) as error:
        Thresholds(**{field: value}).validate()
    assert str(error.value) == expected


# --- figures ----------------------------------------------------------------------------------

def test_group_figures_sum_deltas_and_weight_response_time_by_requests():
    before = {
        "a": Counters(requests=100, responses_2xx=90, responses_4xx=5, responses_5xx=5, response_time_ms=99),
        "b": Counters(requests=50, responses_2xx=50, response_time_ms=1),
        "c": Counters(requests=7, responses_2xx=7, response_time_ms=500),
    }
    after = {
        "a": Counters(requests=130, responses_1xx=1, responses_2xx=110, responses_3xx=2, responses_4xx=6,
                      responses_5xx=11, response_time_ms=10, connection_errors=3, response_errors=1),
        "b": Counters(requests=60, responses_2xx=59, responses_other=1, response_time_ms=40),
        "c": Counters(requests=7, responses_2xx=7, response_time_ms=500),
    }
    result = group_figures(["a", "b", "c"], before, after)
    assert result.as_dict() == {
        "servers": ["a", "b", "c"],
        "requests": 40,
        "responses": 40,
        "responses_2xx": 29,
        "responses_3xx": 2,
        "responses_4xx": 1,
        "responses_5xx": 6,
        "responses_other": 2,
        "failed_requests": 4,
        "error_rate": round(10 / 44.0, 6),
        # c served nothing in the window, so its 500 ms does not count: (10*30 + 40*10) / 40
        "response_time_ms": 17.5,
    }


def test_group_figures_without_traffic_have_no_rates():
    counters = {"a": Counters(requests=5, responses_2xx=5, response_time_ms=3)}
    result = group_figures(["a"], counters, counters)
    assert (result.requests, result.responses, result.error_rate, result.response_time_ms) == (0, 0, None, None)


def test_group_figures_reject_counters_that_went_down():
    before = {"web1": Counters(requests=500, responses_2xx=500, response_time_ms=9)}
    after = {"web1": Counters(requests=3, responses_2xx=3, response_time_ms=2)}
    with pytest.raises(AnalysisError) as error:
        group_figures(["web1"], before, after)
    assert str(error.value) == (
        "HAProxy counters of server 'web1' went down during the window "
        "(requests 500 -> 3, responses_2xx 500 -> 3); was HAProxy reloaded?"
    )


def test_probe_figures_count_5xx_and_missing_responses_as_errors():
    samples = [ProbeSample(200, float(ms)) for ms in range(1, 19)]
    samples += [ProbeSample(404, 50.0), ProbeSample(500, 60.0), ProbeSample(None, None, "timed out")]
    result = probe_figures(samples)
    assert result.as_dict() == {"count": 21, "errors": 2, "error_rate": round(2 / 21.0, 6), "p50_ms": 10.0,
                                "p95_ms": 50.0}
    assert result.latencies_ms == [float(ms) for ms in range(1, 19)] + [50.0, 60.0]


def test_probe_figures_of_nothing():
    assert probe_figures([]).as_dict() == {"count": 0, "errors": 0, "error_rate": None, "p50_ms": None, "p95_ms": None}


# --- Mann-Whitney -----------------------------------------------------------------------------

def test_midranks_average_tied_ranks_and_sum_the_tie_term():
    # Sorted: 1 | 3 3 3 | 4 | 5 -> ranks 1, 3 (for 2, 3, 4), 5, 6; one tie of 3: 3**3 - 3 = 24
    assert midranks([3, 3, 5, 1, 3, 4]) == ([3.0, 3.0, 6.0, 1.0, 3.0, 5.0], 24.0)


# Reference values: hand-computed for the first two, the others match
# scipy.stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=True).
@pytest.mark.parametrize("canary, stable, u, p_value", [
    # No ties: canary ranks 2+4+6 = 12, U = 12 - 3*4/2 = 6, mean 4.5, variance 3*3/12*7 = 5.25,
    # z = (6 - 4.5 - 0.5) / sqrt(5.25) = 0.43644, p = P(Z > z)
    ([2, 4, 6], [1, 3, 5], 6.0, 0.3312602917700287),
    # Ties: canary ranks 3+3+6 = 12, U = 6, variance 9/12 * (7 - 24/30) = 4.65, z = 1 / sqrt(4.65)
    ([3, 3, 5], [1, 3, 4], 6.0, 0.3214174132454022),
    (list(range(21, 41)), list(range(1, 21)), 400.0, 3.397807564086679e-08),
    (list(range(1, 21)), list(range(21, 41)), 0.0, 0.9999999707854003),
    ([12.1, 14.3, 11.8, 15.2, 13.3, 16.0, 12.9, 14.8, 13.0, 17.2, 15.5, 12.0],
     [11.0, 12.2, 10.9, 11.8, 12.5, 10.2, 13.1, 11.4, 12.0, 10.8], 107.0, 0.0010780169872820862),
    ([1, 1, 2, 2, 2, 3, 3, 3, 3, 4], [1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4], 60.0, 0.37091957950412047),
])
def test_mann_whitney_matches_reference_values(canary, stable, u, p_value):
    result = mann_whitney_greater(canary, stable)
    assert result.u == u
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert (result.n_canary, result.n_stable) == (len(canary), len(stable))


def test_mann_whitney_hand_computed_z():
    assert mann_whitney_greater([2, 4, 6], [1, 3, 5]).z == pytest.approx(1 / 5.25 ** 0.5)
    assert mann_whitney_greater([3, 3, 5], [1, 3, 4]).z == pytest.approx(1 / 4.65 ** 0.5)


def test_mann_whitney_u_counts_pairs_where_canary_is_larger():
    generator = random.Random(7)
    canary = [generator.randrange(15) for index in range(23)]
    stable = [generator.randrange(15) for index in range(31)]
    pairs = sum(1.0 if c > s else 0.5 if c == s else 0.0 for c, s in itertools.product(canary, stable))
    assert mann_whitney_greater(canary, stable).u == pairs


def test_mann_whitney_all_tied_gives_no_evidence():
    result = mann_whitney_greater([5.0] * 25, [5.0] * 30)
    assert (result.u, result.z, result.p_value) == (375.0, 0.0, 1.0)


def test_mann_whitney_needs_both_samples():
    with pytest.raises(AnalysisError, match="got 0 canary and 2 stable"):
        mann_whitney_greater([], [1, 2])


# --- verdict ----------------------------------------------------------------------------------

def test_healthy_canary_passes_with_every_check_in_the_reasons():
    result = analyse(figures(300, 1, 12.0), figures(900, 3, 11.0), Thresholds())
    assert result.verdict == "pass"
    assert result.reasons == [
        "canary error rate 0.00333 (1/300) <= max_error_rate 0.01; stable 0.00333 (3/900)",
        "canary error rate 0.00333 (1/300) - stable 0.00333 (3/900) = 0.000 <= max_error_rate_increase 0.005",
        "canary response time 12.0 ms <= max_latency_ratio 1.5 x stable 11.0 ms (16.5 ms)",
    ]
    assert result.mann_whitney is None


def test_error_rate_failure_names_figures_and_threshold():
    result = analyse(figures(300, 90), figures(900, 0), Thresholds())
    assert result.verdict == "fail"
    assert result.reasons[0] == "canary error rate 0.300 (90/300) > max_error_rate 0.01; stable 0.000 (0/900)"
    assert result.reasons[1] == (
        "canary error rate 0.300 (90/300) - stable 0.000 (0/900) = 0.300 > max_error_rate_increase 0.005"
    )
    assert len(result.reasons) == 2


def test_increase_over_stable_fails_alone():
    result = analyse(figures(1000, 9), figures(1000, 1), Thresholds())
    assert result.verdict == "fail"
    assert result.reasons == [
        "canary error rate 0.00900 (9/1000) - stable 0.00100 (1/1000) = 0.00800 > max_error_rate_increase 0.005"
    ]


def test_increase_exactly_at_the_limit_passes_despite_float_noise():
    # 0.0105 - 0.0055 is 0.005000000000000001 in floating point
    result = analyse(figures(2000, 21), figures(2000, 11), Thresholds(max_error_rate=0.02))
    assert result.verdict == "pass"


def test_every_request_an_error_fails():
    result = analyse(figures(50, 50), figures(50, 50), Thresholds())
    assert result.verdict == "fail"
    assert result.reasons == ["canary error rate 1.000 (50/50) > max_error_rate 0.01; stable 1.000 (50/50)"]


def test_failed_requests_count_as_errors_and_as_requests():
    # A canary that refuses connections: HAProxy answers 503 itself and counts no response for it.
    result = analyse(figures(0, failed=40), figures(900, 0), Thresholds())
    assert result.verdict == "fail"
    assert result.reasons[0] == (
        "canary error rate 1.000 (40/40 incl. 40 failed without response) > max_error_rate 0.01; stable 0.000 (0/900)"
    )


@pytest.mark.parametrize("canary_requests, stable_requests, expected", [
    (19, 900, ["canary served 19 requests in the window, fewer than min_requests 20"]),
    (300, 0, ["stable served 0 requests in the window, fewer than min_requests 20"]),
    (0, 0, ["canary served 0 requests in the window, fewer than min_requests 20",
            "stable served 0 requests in the window, fewer than min_requests 20"]),
])
def test_too_few_requests_is_inconclusive_naming_the_group(canary_requests, stable_requests, expected):
    # All canary requests failing does not matter when there are too few of them.
    result = analyse(figures(canary_requests, canary_requests), figures(stable_requests), Thresholds())
    assert (result.verdict, result.reasons) == ("inconclusive", expected)


def test_exactly_min_requests_is_enough():
    assert analyse(figures(20), figures(20), Thresholds()).verdict == "pass"


def test_no_traffic_with_min_requests_zero_passes_unchecked():
    result = analyse(figures(0), figures(0), Thresholds(min_requests=0))
    assert result.verdict == "pass"
    assert result.reasons == [
        "canary error rate not checked: no response in the window",
        "response time not compared: a group served no request through HAProxy",
    ]


@pytest.mark.parametrize("canary_ms, stable_ms, verdict, reason", [
    (45.0, 12.0, "fail",
     "canary response time 45.0 ms > max_latency_ratio 1.5 x stable 12.0 ms (18.0 ms) and > latency_floor_ms 20"),
    (18.0, 12.0, "pass", "canary response time 18.0 ms <= max_latency_ratio 1.5 x stable 12.0 ms (18.0 ms)"),
    (15.0, 2.0, "pass",
     "canary response time 15.0 ms > max_latency_ratio 1.5 x stable 2.0 ms (3.0 ms) but <= latency_floor_ms 20"),
    (21.0, 0.0, "fail",
     "canary response time 21.0 ms > max_latency_ratio 1.5 x stable 0.0 ms (0.0 ms) and > latency_floor_ms 20"),
])
def test_response_time_ratio_above_the_floor(canary_ms, stable_ms, verdict, reason):
    result = analyse(figures(300, 0, canary_ms), figures(900, 0, stable_ms), Thresholds())
    assert result.verdict == verdict
    assert reason in result.reasons


def test_probe_errors_add_to_the_error_checks():
    canary_probes = probes([5.0] * 20, errors=18, no_response=2)
    result = analyse(figures(1000), figures(1000), Thresholds(), canary_probes, probes([5.0] * 22))
    assert result.verdict == "fail"
    assert result.reasons[0] == (
        "canary error rate 0.020 (20/1022 incl. probes 20/22) > max_error_rate 0.01; "
        "stable 0.000 (0/1022 incl. probes 0/22)"
    )


def test_probes_count_toward_min_requests():
    quiet = analyse(figures(0), figures(0), Thresholds(), probes([5.0] * 25), probes([5.0] * 25))
    assert quiet.verdict == "pass"
    short = analyse(figures(5), figures(0), Thresholds(), probes([5.0] * 10), probes([5.0] * 25))
    assert short.reasons == ["canary served 15 requests (5 answered + 10 probes) in the window, fewer than min_requests 20"]
    only_probes = analyse(figures(0), figures(30), Thresholds(), probes([5.0] * 2))
    assert only_probes.reasons == ["canary served 2 requests (2 probes) in the window, fewer than min_requests 20"]
    failing = analyse(figures(0, failed=3), figures(30), Thresholds())
    assert failing.reasons == ["canary served 3 requests (3 failed) in the window, fewer than min_requests 20"]


def test_significantly_slower_probes_fail():
    canary = probes([40.0 + index for index in range(25)])
    stable = probes([10.0 + index % 5 for index in range(25)])
    result = analyse(figures(300), figures(900), Thresholds(), canary, stable)
    assert result.verdict == "fail"
    assert result.mann_whitney.u == 625.0
    assert result.mann_whitney.p_value < 1e-8
    assert result.reasons == [
        "probe latency Mann-Whitney U 625.0, z %.3f, one-sided p 0.0000 < alpha 0.05; canary probe p50 52.0 ms > "
        "max_latency_ratio 1.5 x stable p50 12.0 ms (18.0 ms) and > latency_floor_ms 20" % result.mann_whitney.z
    ]


@pytest.mark.parametrize("canary_ms, stable_ms", [
    ((2.0, 2.5), (1.0, 1.2)),     # significant and twice as slow, but under the floor
    ((30.0, 31.0), (25.0, 26.0)),  # significant and above the floor, but only 1.2 times
])
def test_significant_but_small_latency_differences_pass(canary_ms, stable_ms):
    canary = probes([canary_ms[index % 2] for index in range(30)])
    stable = probes([stable_ms[index % 2] for index in range(30)])
    result = analyse(figures(300), figures(900), Thresholds(), canary, stable)
    assert result.mann_whitney.p_value < 0.05
    assert result.verdict == "pass"


def test_slower_but_not_significant_passes():
    # Median 60 ms against 35 ms, but with three samples each U = 6 of 9 gives p = 0.331.
    canary, stable = probes([30.0, 60.0, 90.0]), probes([10.0, 35.0, 80.0])
    result = analyse(figures(300), figures(900), Thresholds(min_probe_samples=3), canary, stable)
    assert result.mann_whitney.p_value == pytest.approx(0.3312602917700287)
    assert result.verdict == "pass"
    assert result.reasons[-1].startswith("probe latency Mann-Whitney U 6.0, z 0.436, one-sided p 0.3313 >= alpha 0.05; ")
    assert result.reasons[-1].endswith("canary probe p50 60.0 ms > max_latency_ratio 1.5 x stable p50 35.0 ms (52.5 ms) "
                                       "and > latency_floor_ms 20")


def test_too_few_probe_latencies_skip_the_test():
    canary = probes([90.0] * 19, no_response=0)
    result = analyse(figures(300), figures(900), Thresholds(), canary, probes([5.0] * 40))
    assert result.mann_whitney is None
    assert result.verdict == "pass"
    assert result.reasons[-1] == (
        "probe latency not tested: fewer than min_probe_samples 20 latencies in a group (canary 19, stable 40)"
    )


def test_probes_of_one_group_only_count_for_errors():
    result = analyse(figures(100), figures(100), Thresholds(), None, probes([5.0] * 30, errors=30))
    assert result.mann_whitney is None
    assert result.verdict == "pass"
    assert result.reasons[0] == (
        "canary error rate 0.000 (0/100) <= max_error_rate 0.01; stable 0.231 (30/130 incl. probes 30/30)"
    )


# --- judged against earlier stable figures (a baseline) ------------------------------------------

STEP_2 = "earlier stable figures (step 2 at 50%)"


def baseline(requests=400, responses_5xx=0, response_time_ms=10.0, failed=0, label="step 2 at 50%") -> Baseline:
    return Baseline(figures(requests, responses_5xx, response_time_ms, failed, servers=("s1", "s2")), label)


def test_stable_without_traffic_is_judged_against_the_baseline_and_says_so():
    # the 100 % step: the stable servers take no request, the canary all of them
    result = analyse(figures(800, 0, 11.0), figures(0), Thresholds(max_error_rate=0.001), baseline=baseline())
    assert (result.verdict, result.stable_source) == ("pass", "baseline")
    assert result.reasons == [
        "stable served 0 requests in the window, fewer than min_requests 20: the canary is judged against the "
        + STEP_2 + ", 400 requests",
        "canary error rate 0.000 (0/800) <= max_error_rate 0.001; " + STEP_2 + " 0.000 (0/400)",
        "canary error rate 0.000 (0/800) - " + STEP_2 + " 0.000 (0/400) = 0.000 <= max_error_rate_increase 0.005",
        "canary response time 11.0 ms <= max_latency_ratio 1.5 x " + STEP_2 + " 10.0 ms (15.0 ms)",
    ]


def test_canary_errors_at_full_traffic_fail_against_the_baseline():
    result = analyse(figures(800, 240), figures(0), Thresholds(max_error_rate=0.001), baseline=baseline())
    assert (result.verdict, result.stable_source) == ("fail", "baseline")
    assert result.reasons == [
        "stable served 0 requests in the window, fewer than min_requests 20: the canary is judged against the "
        + STEP_2 + ", 400 requests",
        "canary error rate 0.300 (240/800) > max_error_rate 0.001; " + STEP_2 + " 0.000 (0/400)",
        "canary error rate 0.300 (240/800) - " + STEP_2 + " 0.000 (0/400) = 0.300 > max_error_rate_increase 0.005",
    ]


def test_an_increase_over_the_baseline_fails_alone():
    result = analyse(figures(1000, 9), figures(0), Thresholds(), baseline=baseline(1000, 1))
    assert result.verdict == "fail"
    assert result.reasons[1:] == [
        "canary error rate 0.00900 (9/1000) - " + STEP_2 + " 0.00100 (1/1000) = 0.00800 > max_error_rate_increase 0.005"
    ]


def test_a_slower_canary_fails_against_the_baseline_response_time():
    result = analyse(figures(800, 0, 45.0), figures(0), Thresholds(), baseline=baseline(response_time_ms=12.0))
    assert result.verdict == "fail"
    assert result.reasons[1:] == [
        "canary response time 45.0 ms > max_latency_ratio 1.5 x " + STEP_2 + " 12.0 ms (18.0 ms) and > latency_floor_ms 20"
    ]


def test_a_few_stable_requests_in_the_window_are_not_enough_either():
    # a handful of requests still reach the stable servers right after the shift
    result = analyse(figures(800), figures(3, 3), Thresholds(), baseline=baseline())
    assert (result.verdict, result.stable_source) == ("pass", "baseline")
    assert result.reasons[0].startswith("stable served 3 requests in the window, fewer than min_requests 20: ")


def test_enough_stable_requests_in_the_window_win_over_the_baseline():
    # the baseline would fail the canary on the increase; the window's own stable figures do not
    result = analyse(figures(1000, 9), figures(1000, 8), Thresholds(), baseline=baseline(1000, 0))
    assert (result.verdict, result.stable_source) == ("pass", "window")
    assert not any("earlier" in reason for reason in result.reasons)


def test_a_baseline_short_of_min_requests_does_not_count():
    result = analyse(figures(800), figures(0), Thresholds(), baseline=baseline(12, label="before the first shift"))
    assert (result.verdict, result.stable_source) == ("inconclusive", "window")
    assert result.reasons == [
        "stable served 0 requests in the window, fewer than min_requests 20, and the earlier stable figures "
        "(before the first shift) have 12, fewer as well"
    ]


def test_a_short_canary_stays_inconclusive_with_a_baseline():
    result = analyse(figures(4), figures(0), Thresholds(), baseline=baseline())
    assert (result.verdict, result.stable_source) == ("inconclusive", "baseline")
    assert result.reasons[1] == "canary served 4 requests in the window, fewer than min_requests 20"
    assert STEP_2 in result.reasons[0]


def test_window_probes_still_feed_the_latency_test_but_not_the_baseline_error_rate():
    # 25 stable probes in the window: enough for the test (min_probe_samples 20), short of min_requests 30
    canary = probes([40.0 + index for index in range(25)])
    stable = probes([10.0 + index % 5 for index in range(25)], errors=5)
    limits = Thresholds(min_requests=30, max_error_rate=0.2)
    result = analyse(figures(800), figures(0), limits, canary, stable, baseline())
    assert result.stable_source == "baseline"
    assert result.mann_whitney.u == 625.0
    assert result.verdict == "fail"
    assert result.reasons[1:] == [
        "probe latency Mann-Whitney U 625.0, z %.3f, one-sided p 0.0000 < alpha 0.05; canary probe p50 52.0 ms > "
        "max_latency_ratio 1.5 x stable p50 12.0 ms (18.0 ms) and > latency_floor_ms 20" % result.mann_whitney.z
    ]
    passed = analyse(figures(800), figures(0), Thresholds(min_requests=30), probes([5.0] * 25), stable, baseline())
    assert passed.reasons[1] == "canary error rate 0.000 (0/825 incl. probes 0/25) <= max_error_rate 0.01; " \
        + STEP_2 + " 0.000 (0/400)"


def test_a_baseline_without_label_or_response_time():
    unlabelled = Baseline(dataclasses.replace(baseline().figures, response_time_ms=None))
    result = analyse(figures(800, 0, 30.0), figures(0), Thresholds(), baseline=unlabelled)
    assert result.verdict == "pass"
    assert result.reasons[0].endswith("judged against the earlier stable figures, 400 requests")
    assert "response time not compared: a group served no request through HAProxy" in result.reasons


def test_baseline_from_the_returned_stable_figures():
    stable = figures(400, 2, 9.5, failed=1, servers=("web2", "web3"), responses_4xx=7)
    made = baseline_from_dict(dict(stable.as_dict(), label="step 1 at 10%"))
    assert made == Baseline(dataclasses.replace(stable, error_rate=round(3 / 401.0, 6)), "step 1 at 10%")
    assert made.as_dict() == dict(stable.as_dict(), error_rate=round(3 / 401.0, 6), label="step 1 at 10%")


def test_baseline_from_the_fewest_keys():
    made = baseline_from_dict({"requests": 100, "responses": 100, "responses_5xx": 1, "failed_requests": 0})
    assert made.label == "" and made.name == "earlier stable figures"
    assert (made.figures.error_rate, made.figures.response_time_ms, made.figures.servers) == (0.01, None, [])


@pytest.mark.parametrize("data, expected", [
    ([1, 2], "baseline is [1, 2]; expected a dict of stable figures such as an earlier result's 'stable'"),
    ({"requests": 1, "responses": 1, "responses_5xx": 0, "failed_requests": 0, "latency": 3},
     "baseline has unknown key 'latency'; expected keys among servers, requests, responses, responses_2xx, "
     "responses_3xx, responses_4xx, responses_5xx, responses_other, failed_requests, error_rate, response_time_ms, label"),
    ({"requests": 1, "responses": 1},
     "baseline lacks responses_5xx, failed_requests; expected at least requests, responses, responses_5xx, failed_requests"),
    ({"requests": -1, "responses": 1, "responses_5xx": 0, "failed_requests": 0},
     "baseline requests is -1; expected a whole number >= 0"),
    ({"requests": "400", "responses": 1, "responses_5xx": 0, "failed_requests": 0},
     "baseline requests is '400'; expected a whole number >= 0"),
    ({"requests": 4, "responses": 4.0, "responses_5xx": 0, "failed_requests": 0},
     "baseline responses is 4.0; expected a whole number >= 0"),
    ({"requests": 4, "responses": 4, "responses_5xx": 0, "failed_requests": True},
     "baseline failed_requests is True; expected a whole number >= 0"),
    ({"requests": 4, "responses": 4, "responses_5xx": 5, "failed_requests": 0},
     "baseline responses_5xx is 5, more than its responses 4; expected at most responses"),
    ({"requests": 4, "responses": 4, "responses_5xx": 0, "failed_requests": 0, "response_time_ms": float("nan")},
     "baseline response_time_ms is nan; expected null or a number of milliseconds >= 0"),
    ({"requests": 4, "responses": 4, "responses_5xx": 0, "failed_requests": 0, "response_time_ms": -2},
     "baseline response_time_ms is -2; expected null or a number of milliseconds >= 0"),
    ({"requests": 4, "responses": 4, "responses_5xx": 0, "failed_requests": 0, "label": 2},
     "baseline label is 2; expected a string saying where the figures came from"),
    ({"requests": 4, "responses": 4, "responses_5xx": 0, "failed_requests": 0, "servers": "web2"},
     "baseline servers is 'web2'; expected a list of server names"),
])
def test_bad_baselines_are_refused_naming_the_value(data, expected):
    with pytest.raises(AnalysisError) as error:
        baseline_from_dict(data)
    assert str(error.value) == expected
