"""interp.stats against scipy and textbook values."""

import math
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from interp.stats import (
    benjamini_hochberg,
    bootstrap_interval,
    bootstrap_mean,
    effective_sample_size,
    lag1_autocorrelation,
    permutation_pvalue,
    spearman,
    spearman_rows,
    spearman_test,
    wilson_interval,
)

# ---- Wilson ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("successes,trials", [(0, 1), (0, 10), (3, 10), (8, 10), (10, 10), (17, 1024), (999, 1024)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(successes, trials, confidence):
    expected = scipy_stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(successes, trials, confidence) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_textbook_and_vectorised():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # Newcombe (1998), table I
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    lo, hi = wilson_interval(np.array([0, 8, 10]), np.array([10, 10, 10]))
    assert lo == pytest.approx([0.0, 0.4902, 0.7225], abs=1e-4) and hi == pytest.approx([0.2775, 0.9433, 1], abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate_inside_unit_interval(case):
    successes, trials = case
    lo, hi = wilson_interval(successes, trials)
    assert 0 <= lo <= successes / trials <= hi <= 1


# ---- Spearman and permutation p-values ----------------------------------------------------------------

def test_spearman_matches_scipy_with_ties_and_nan_when_constant():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 5, 12), rng.normal(size=12)  # x has ties
        assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def scipy_permutation_p(x, y, n_resamples):
    return scipy_stats.permutation_test((x,), lambda permuted: scipy_stats.spearmanr(permuted, y).statistic,
                                        permutation_type="pairings", n_resamples=n_resamples, vectorized=False,
                                        rng=1).pvalue


def test_exact_permutation_pvalue_matches_scipy():
    rng = np.random.default_rng(1)
    for n in (4, 5, 6):
        for _ in range(5):
            x, y = rng.normal(size=n), rng.normal(size=n)  # no ties: the null is symmetric
            assert permutation_pvalue(x, y) == pytest.approx(scipy_permutation_p(x, y, 10_000), abs=1e-12)
    assert permutation_pvalue([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(2 / 24)  # textbook: 2 of 4! orderings


def test_random_permutation_pvalue_agrees_with_scipy_within_monte_carlo_error():
    rng = np.random.default_rng(2)
    x = rng.normal(size=14)
    y = 0.5 * x + rng.normal(size=14)
    ours, theirs = permutation_pvalue(x, y, n_permutations=10_000), scipy_permutation_p(x, y, 10_000)
    assert abs(ours - theirs) < 4 * math.sqrt(theirs * (1 - theirs) / 10_000) + 1e-3
    assert permutation_pvalue(np.arange(14), np.arange(14), n_permutations=500) == pytest.approx(1 / 501)


def test_fast_spearman_permutations_equal_the_per_permutation_loop():
    rng = np.random.default_rng(3)
    for n, count in [(6, 10_000), (11, 3000)]:  # exact and random
        x, y = rng.integers(0, 4, n), rng.normal(size=n)
        slow = permutation_pvalue(x, y, statistic=lambda a, b: spearman(a, b), n_permutations=count, seed=5)
        assert permutation_pvalue(x, y, n_permutations=count, seed=5) == pytest.approx(slow, abs=1e-12)


@given(st.lists(st.floats(-10, 10), min_size=3, max_size=9), st.integers(0, 3))
def test_permutation_pvalue_is_a_probability_never_zero(values, seed):
    x = np.array(values)
    y = np.random.default_rng(seed).permutation(x)
    p = permutation_pvalue(x, y, n_permutations=200, seed=seed)
    assert math.isnan(p) or 0 < p <= 1


def test_spearman_test_drops_missing_pairs_and_matches_scipy():
    x = [0.9, 0.7, None, 0.5, 0.4, float("nan"), 0.2, 0.1]
    y = [3.0, 2.5, 1.0, 2.7, 1.0, 0.5, 0.4, 0.45]
    kept = [(a, b) for a, b in zip(x, y) if a is not None and not math.isnan(a)]
    result = spearman_test(x, y, n_resamples=500)
    assert result["n"] == 6
    assert result["rho"] == pytest.approx(scipy_stats.spearmanr(*zip(*kept)).statistic)
    brute = [abs(scipy_stats.spearmanr([a for a, _ in kept], [kept[i][1] for i in order]).statistic)
             for order in permutations(range(6))]
    assert result["p"] == pytest.approx(np.mean(np.array(brute) >= abs(result["rho"]) - 1e-12))
    lo, hi = result["ci"]
    assert -1 <= lo <= hi <= 1
    assert spearman_test([1.0], [2.0]) == {"rho": None, "p": None, "ci": [None, None], "n": 1}
    assert spearman_test([1, 1, 1], [1, 2, 3])["rho"] is None  # undefined, written as null


# ---- bootstrap -----------------------------------------------------------------------------------------

def test_bootstrap_mean_interval_matches_scipy_percentile_bootstrap():
    sample = np.random.default_rng(4).normal(2.0, 1.0, size=40)
    mean, (lo, hi) = bootstrap_mean(sample, n_resamples=20_000)
    reference = scipy_stats.bootstrap((sample,), np.mean, n_resamples=20_000, method="percentile", rng=0)
    standard_error = sample.std(ddof=1) / math.sqrt(len(sample))
    assert mean == pytest.approx(sample.mean())
    assert lo == pytest.approx(reference.confidence_interval.low, abs=0.1 * standard_error)
    assert hi == pytest.approx(reference.confidence_interval.high, abs=0.1 * standard_error)


def test_paired_bootstrap_of_spearman_matches_scipy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    ours = bootstrap_interval(lambda rows: spearman_rows(x[rows], y[rows]), 30, n_resamples=5000, vectorized=True)
    reference = scipy_stats.bootstrap((x, y), lambda a, b: scipy_stats.spearmanr(a, b).statistic, paired=True,
                                      vectorized=False, n_resamples=5000, method="percentile", rng=0)
    assert ours == pytest.approx((reference.confidence_interval.low, reference.confidence_interval.high), abs=0.04)


def test_vectorised_bootstrap_equals_the_per_resample_loop():
    rng = np.random.default_rng(8)
    x, y = rng.integers(0, 3, 7), rng.normal(size=7)  # ties and constant resamples included
    loop = bootstrap_interval(lambda rows: spearman(x[rows], y[rows]), 7, n_resamples=400, seed=3)
    rows = bootstrap_interval(lambda rows: spearman_rows(x[rows], y[rows]), 7, n_resamples=400, seed=3,
                              vectorized=True)
    assert rows == pytest.approx(loop, abs=1e-12)
    matrix = rng.normal(size=(50, 6))
    np.testing.assert_allclose(spearman_rows(matrix, matrix[::-1]),
                               [spearman(a, b) for a, b in zip(matrix, matrix[::-1])])


def test_bootstrap_edge_cases():
    assert bootstrap_mean([0.25]) == (0.25, (0.25, 0.25))  # one seed: no spread
    assert all(math.isnan(value) for value in bootstrap_interval(lambda rows: float("nan"), 5))
    with pytest.raises(ValueError):
        bootstrap_mean([])


# ---- false discovery rate -----------------------------------------------------------------------------

BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719,
           0.6528, 0.7590, 1.0]
"""Benjamini & Hochberg (1995), section 4: 15 p-values, of which the procedure rejects 4 at q = 0.05."""


def test_benjamini_hochberg_textbook_and_scipy():
    adjusted = benjamini_hochberg(BH_1995)
    assert (adjusted <= 0.05).sum() == 4
    np.testing.assert_allclose(adjusted, scipy_stats.false_discovery_control(BH_1995, method="bh"))
    rng = np.random.default_rng(6)
    for _ in range(10):
        p = rng.random(12) ** 3
        np.testing.assert_allclose(benjamini_hochberg(p), scipy_stats.false_discovery_control(p, method="bh"))


def test_benjamini_hochberg_leaves_missing_values_out():
    adjusted = benjamini_hochberg([0.01, np.nan, 0.04])
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], scipy_stats.false_discovery_control([0.01, 0.04]))


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_benjamini_hochberg_never_below_the_raw_p_and_keeps_the_order(values):
    p = np.array(values)
    adjusted = benjamini_hochberg(p)
    assert np.all(adjusted >= p - 1e-12) and np.all(adjusted <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= -1e-12)


# ---- autocorrelation ----------------------------------------------------------------------------------

def test_lag1_autocorrelation_textbook_values():
    assert lag1_autocorrelation([1, 2, 3, 4, 5]) == pytest.approx(0.4)  # Σ d_t d_{t+1} = 4, Σ d² = 10
    assert lag1_autocorrelation([1, -1, 1, -1]) == pytest.approx(-0.75)
    assert math.isnan(lag1_autocorrelation([2, 2, 2]))
    long = np.zeros(20_000)
    noise = np.random.default_rng(7).normal(size=len(long))
    for t in range(1, len(long)):
        long[t] = 0.8 * long[t - 1] + noise[t]
    assert lag1_autocorrelation(long) == pytest.approx(0.8, abs=0.02)  # AR(1) with φ = 0.8


def test_effective_sample_size():
    assert effective_sample_size([1, 2, 3, 4, 5]) == pytest.approx(5 * 0.6 / 1.4)
    assert effective_sample_size([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(5 * 0.84 / 1.16)  # r = 0.4²
    assert effective_sample_size([1, -1, 1, -1]) == 4  # negative autocorrelation: clipped, never above n
    assert math.isnan(effective_sample_size([1, 2, 3], [0, 0, 0]))
    with pytest.raises(ValueError):
        effective_sample_size([1, 2], [1, 2, 3])
