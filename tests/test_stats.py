"""interp.stats against scipy, textbook values and slow loops; its tests calibrated on known nulls."""

import importlib.util
import math
import os
import subprocess
import sys
from itertools import combinations, permutations, product
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from interp.stats import (
    FISHER_Z_CLIP,
    ar1_series,
    ar1_surrogate_pvalue,
    benjamini_hochberg,
    bias_corrected_phi,
    bootstrap_interval,
    bootstrap_mean,
    compare_with_control,
    effective_sample_size,
    lag1_autocorrelation,
    permutation_pvalue,
    seed_level_test,
    spearman,
    spearman_rows,
    spearman_test,
    stratified_permutations,
    wilcoxon_pvalues,
    wilson_interval,
    within_group_permutation_test,
    within_run_test,
)

CALIBRATION_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "null_calibration.py"
sys.path.insert(0, str(CALIBRATION_SCRIPT.parent))  # the script imports its neighbour shared_profile.py
_spec = importlib.util.spec_from_file_location("null_calibration", CALIBRATION_SCRIPT)
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

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


def test_lag1_autocorrelation_of_rows_equals_each_series():
    matrix = np.random.default_rng(9).normal(size=(6, 10))
    np.testing.assert_allclose(lag1_autocorrelation(matrix), [lag1_autocorrelation(row) for row in matrix])


# ---- AR(1) series and the within-run test ----------------------------------------------------------------

def test_ar1_series_is_the_recursion_from_a_stationary_start():
    phi = np.array([0.0, 0.5, 0.95, 1.0])
    series = ar1_series(np.random.default_rng(10), phi[:, None], 6, (4, 3))
    noise = np.random.default_rng(10).standard_normal((4, 3, 6))
    for i, j in product(range(4), range(3)):
        expected = [noise[i, j, 0] / math.sqrt(1 - phi[i] ** 2) if phi[i] < 1 else noise[i, j, 0]]
        for t in range(1, 6):
            expected.append(phi[i] * expected[-1] + noise[i, j, t])
        np.testing.assert_allclose(series[i, j], expected)
    many = ar1_series(np.random.default_rng(11), 0.8, 12, (20_000,))
    assert many[:, [0, -1]].var(axis=0) == pytest.approx([1 / 0.36] * 2, rel=0.05)  # stationary from the start
    assert np.corrcoef(many[:, 5], many[:, 6])[0, 1] == pytest.approx(0.8, abs=0.02)


def test_bias_corrected_phi_undoes_the_short_series_bias():
    rng = np.random.default_rng(12)
    for phi in (0.0, 0.5, 0.8):
        series = ar1_series(rng, phi, 12, (2000,))
        assert bias_corrected_phi(series).mean() == pytest.approx(phi, abs=0.1)
        if phi:
            assert lag1_autocorrelation(series).mean() < phi - 0.2  # the raw r₁ at 12 points
    assert bias_corrected_phi(np.arange(12.0)) == 1.0  # a trend: tested against random walks
    assert bias_corrected_phi(np.arange(12.0)) == bias_corrected_phi(np.arange(12.0) ** 3)  # ranks only


def surrogate_p_by_loop(fixed, varied, count, rng):
    """The conditional AR(1)-surrogate p, one surrogate at a time with scipy's Spearman."""
    observed = abs(scipy_stats.spearmanr(fixed, varied).statistic)
    surrogates = ar1_series(rng, bias_corrected_phi(varied), len(varied), (count,))
    extreme = sum(abs(scipy_stats.spearmanr(fixed, surrogate).statistic) >= observed - 1e-12 for surrogate in surrogates)
    return (1 + extreme) / (1 + count)


def test_within_run_p_equals_the_per_surrogate_loop():
    rng = np.random.default_rng(13)
    for n in (6, 12):
        x, y = np.cumsum(rng.normal(size=n)), np.round(np.cumsum(rng.normal(size=n)))  # y has ties
        y = y + 0.3 * x
        result = within_run_test(x, y, n_surrogates=300, seed=4)
        loop = np.random.default_rng(4)
        p_given_x, p_given_y = surrogate_p_by_loop(x, y, 300, loop), surrogate_p_by_loop(y, x, 300, loop)
        assert result["p_given_x"] == pytest.approx(p_given_x) and result["p_given_y"] == pytest.approx(p_given_y)
        assert result["p"] == max(p_given_x, p_given_y)
        assert result["rho"] == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
        assert result["phi"] == {"x": bias_corrected_phi(x), "y": bias_corrected_phi(y)}
        lo, hi = result["null_band"]
        assert -1 <= lo < 0 < hi <= 1 and result["ci"] is None and result["n"] == n


def test_within_run_p_of_rows_agrees_with_single_calls():
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(2, 3, 15)).cumsum(-1)
    rows = ar1_surrogate_pvalue(x, y, n_surrogates=4000, seed=1)["p"]
    single = [within_run_test(a, b, n_surrogates=4000, seed=2)["p"] for a, b in zip(x, y)]
    assert rows == pytest.approx(single, abs=4 * math.sqrt(0.25 / 4000) + 1e-3)


def test_within_run_test_edge_cases():
    assert within_run_test([1.0, 2.0, None, 3.0], [2.0, 1.0, 5.0, float("nan")])["n"] == 2
    short = within_run_test([1, 2, 3], [1, 3, 2])
    assert short["rho"] == pytest.approx(0.5) and short["p"] is None  # too few checkpoints for a p-value
    constant = within_run_test([1, 2, 3, 4, 5], [2, 2, 2, 2, 2])
    assert constant["rho"] is None and constant["p"] is None
    perfect = within_run_test(np.arange(21.0), np.arange(21.0) ** 2)
    assert perfect["rho"] == 1.0 and perfect["p"] < 0.01  # even against random walks


NULL_DRAWS = 400
"""Draws per cell in the calibration tests: a test whose true rate is 0.05 has standard error 0.011 here,
so the SPEC's 0.07 is asserted as ≤ 0.08 (the seeds are fixed; the benchmark runs 2000 draws a cell)."""
NULL_BOUND = 0.08


@pytest.mark.slow
def test_within_run_test_holds_its_error_rate_on_independent_ar1_pairs():
    rng = np.random.default_rng(15)
    for phi, n in product((0.5, 0.8, 0.95), (12, 21)):
        x, y = calibration.ar1_pairs(rng, phi, phi, n, NULL_DRAWS)
        p = ar1_surrogate_pvalue(x, y, n_surrogates=199, seed=rng)["p"]
        assert np.mean(p <= 0.05) <= NULL_BOUND, (phi, n)
    iid = [permutation_pvalue(a, b, n_permutations=199, seed=i) for i, (a, b) in enumerate(zip(x, y))]
    assert np.mean(np.array(iid) <= 0.05) > 0.25  # the i.i.d. permutation it replaces, φ 0.95, 21 checkpoints


def test_within_run_test_finds_a_planted_correlation():
    rng = np.random.default_rng(16)
    for phi, n, power in [(0.5, 21, 0.7), (0.95, 12, 0.25)]:  # measured ~0.8 and ~0.35
        x, y = calibration.ar1_pairs(rng, phi, phi, n, NULL_DRAWS, correlation=calibration.PLANTED)
        assert np.mean(ar1_surrogate_pvalue(x, y, n_surrogates=199, seed=rng)["p"] <= 0.05) >= power


# ---- across seeds --------------------------------------------------------------------------------------

def test_seed_level_test_is_scipy_on_fisher_z():
    rhos = [0.4, 0.7, None, 0.2, 1.0, 0.55]
    z = np.arctanh(np.clip([0.4, 0.7, 0.2, 1.0, 0.55], -FISHER_Z_CLIP, FISHER_Z_CLIP))
    t_test = scipy_stats.ttest_1samp(z, 0.0)
    interval = t_test.confidence_interval(0.9)
    result = seed_level_test(rhos, confidence=0.9)
    assert result["n"] == 5 and result["rho"] == pytest.approx(math.tanh(z.mean()))
    assert result["p"] == pytest.approx(t_test.pvalue)
    assert result["ci"] == pytest.approx([math.tanh(interval.low), math.tanh(interval.high)])
    assert result["p_wilcoxon"] == pytest.approx(scipy_stats.wilcoxon(z).pvalue) == pytest.approx(0.0625)  # 2/2⁵
    assert seed_level_test([0.3])["p"] is None and seed_level_test([])["rho"] is None
    same = seed_level_test([0.2, 0.2, 0.2])
    assert same["rho"] == pytest.approx(0.2) and same["p"] is None and same["p_wilcoxon"] == pytest.approx(0.25)


def test_wilcoxon_rows_with_and_without_ties_equal_scipy_row_by_row():
    rng = np.random.default_rng(17)
    rows = rng.normal(size=(30, 5))
    rows[::3, 1] = -rows[::3, 0]  # tied magnitudes
    rows[::7, 2] = 0.0
    np.testing.assert_allclose(wilcoxon_pvalues(rows), [scipy_stats.wilcoxon(row).pvalue for row in rows])


def test_compare_with_control_is_welch_and_an_exact_permutation_test():
    related, control = [0.6, 0.8, 0.5, None], [0.1, -0.2, 0.3]
    z_related, z_control = np.arctanh([0.6, 0.8, 0.5]), np.arctanh([0.1, -0.2, 0.3])
    welch = scipy_stats.ttest_ind(z_related, z_control, equal_var=False)
    result = compare_with_control(related, control)
    assert result["difference_z"] == pytest.approx(z_related.mean() - z_control.mean())
    assert result["p"] == pytest.approx(welch.pvalue)
    assert result["ci_z"] == pytest.approx(list(welch.confidence_interval()))
    assert result["rho_related"] == pytest.approx(math.tanh(z_related.mean()))
    pooled = np.concatenate([z_related, z_control])
    splits = [pooled[list(chosen)].mean() - np.delete(pooled, list(chosen)).mean() for chosen in combinations(range(6), 3)]
    observed = z_related.mean() - z_control.mean()
    assert result["p_permutation"] == pytest.approx(np.mean(np.abs(splits) >= abs(observed) - 1e-12)) == 0.1
    assert compare_with_control([0.5], [0.1, 0.2])["p"] is None


@pytest.mark.slow
def test_seed_level_and_control_tests_hold_their_error_rates():
    for entry in calibration.seed_level_rows(draws=NULL_DRAWS, seed=18, surrogates=999):
        assert entry["fpr"] <= NULL_BOUND, entry


# ---- across runs ---------------------------------------------------------------------------------------

def test_stratified_permutations_shuffle_within_groups_only():
    groups = ["a", "b", "a", "c", "b", "a"]
    members = [np.array([0, 2, 5]), np.array([1, 4])]
    orderings = stratified_permutations(members, 6, 500, np.random.default_rng(0))
    for ordering in orderings:
        assert [groups[i] for i in ordering] == groups
    assert len({tuple(ordering) for ordering in orderings}) == 12  # 3! · 2! orderings, all reached


def within_group_statistic(x, y, groups):
    """Stratified Spearman by hand: ranks centred within each group, then one correlation."""
    rx, ry = np.zeros(len(x)), np.zeros(len(y))
    for label in set(groups):
        where = [i for i, g in enumerate(groups) if g == label]
        rx[where] = scipy_stats.rankdata(x[where]) - scipy_stats.rankdata(x[where]).mean()
        ry[where] = scipy_stats.rankdata(y[where]) - scipy_stats.rankdata(y[where]).mean()
    return rx @ ry / math.sqrt((rx @ rx) * (ry @ ry))


def test_within_group_test_against_every_stratified_permutation():
    rng = np.random.default_rng(19)
    groups = ["a", "a", "a", "b", "b", "b", "c"]  # c has one run: no within-group information
    x, y = rng.normal(size=7), rng.normal(size=7)
    y[:6] += 2 * x[:6]
    result = within_group_permutation_test(list(x) + [None], list(y) + [1.0], groups + ["d"], n_permutations=20_000)
    observed = within_group_statistic(x[:6], y[:6], groups[:6])
    every = [within_group_statistic(x[:6], y[:6][list(a) + [3 + i for i in b]], groups[:6])
             for a, b in product(permutations(range(3)), permutations(range(3)))]
    exact = np.mean(np.abs(every) >= abs(observed) - 1e-12)
    assert result["rho"] == pytest.approx(observed)
    assert result["p"] == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-3)
    assert (result["n"], result["n_groups"]) == (6, 2)
    assert result["rho_pooled"] == pytest.approx(spearman(x, y))
    assert within_group_permutation_test([1, 2, 3], [3, 1, 2], ["a", "b", "c"])["p"] is None


@pytest.mark.slow
def test_within_group_test_holds_its_error_rate_where_groups_confound_the_pooled_one():
    for entry in calibration.across_run_rows(draws=NULL_DRAWS, seed=20, surrogates=199):
        if entry["test"].startswith("within-group"):
            assert entry["fpr"] <= NULL_BOUND, entry
        else:
            assert entry["fpr"] > 0.15, entry  # group identity drives the pooled points


@pytest.mark.slow
def test_calibration_script_runs_and_refuses_bad_input():
    root = CALIBRATION_SCRIPT.parents[1]
    environment = {**os.environ, "PYTHONPATH": str(root)}  # this checkout's interp, installed or not
    done = subprocess.run([sys.executable, str(CALIBRATION_SCRIPT), "--draws", "4", "--surrogates", "19"],
                          capture_output=True, text=True, check=True, cwd=root, env=environment)
    assert done.stdout.count("### ") == len(calibration.SECTIONS) + 1 and "AR(1) surrogates" in done.stdout
    assert "shared profile" in done.stdout
    bad = subprocess.run([sys.executable, str(CALIBRATION_SCRIPT), "--draws", "0"], capture_output=True, text=True,
                         cwd=root, env=environment)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --draws") and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_the_competent_protocol_finds_no_reuse_in_the_shared_profile_and_the_paper_protocol_does():
    """Issue 17, finding 1, with the suite's own functions: both tasks use one head profile, only the main task's
    reach changes. The competent protocol holds its error rate there; the paper's protocol shows the confound;
    where the heads really converge (planted), both find it."""
    from shared_profile import shared_profile_rows

    rows = {(row["protocol"], row["checkpoints"]): row for row in shared_profile_rows(draws=200, seed=3, surrogates=199)}
    for checkpoints in (12, 21):
        competent, paper = rows["competent", checkpoints], rows["paper", checkpoints]
        assert competent["null_within"] <= NULL_BOUND and competent["null_seed_level"] <= 0.12  # 40 groups of 5
        assert abs(competent["null_rho"]) < 0.1
        assert paper["null_rho"] > 0.6 and paper["null_within"] > 0.3 and paper["null_seed_level"] > 0.9
        assert competent["planted_within"] > 0.8 and competent["planted_seed_level"] > 0.9
