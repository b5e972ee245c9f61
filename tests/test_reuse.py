import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.reuse import (
    Protocol,
    TaskCompetence,
    compared_lengths,
    default_k,
    head_intervals,
    jaccard_null,
    resampled_maps,
    reuse_scores,
    reuse_with_intervals,
    top_k_heads,
)


@given(st.integers(1, 7), st.data())
def test_jaccard_null_equals_the_average_over_every_pair_of_subsets(n, data):
    k = data.draw(st.integers(1, n))
    subsets = [set(subset) for subset in itertools.combinations(range(n), k)]
    brute = np.mean([len(a & b) / len(a | b) for a in subsets for b in subsets])
    assert jaccard_null(n, k) == pytest.approx(brute)


def test_scores_of_hand_made_maps():
    a = np.array([[0.9, 0.1, 0.0], [0.5, 0.3, 0.2]])
    same = reuse_scores(a, a, k=2)
    assert (same["mean_abs_diff"], same["spearman"], same["jaccard_top_k"]) == (0.0, pytest.approx(1.0), 1.0)
    reversed_order = reuse_scores(a, -a, k=2)
    assert reversed_order["spearman"] == pytest.approx(-1.0) and reversed_order["jaccard_top_k"] == 0.0
    b = np.array([[0.9, 0.0, 0.1], [0.2, 0.3, 0.5]])  # top-2: {0, 3} vs {0, 5}
    scores = reuse_scores(a, b, k=2)
    assert scores["mean_abs_diff"] == pytest.approx((0 + 0.1 + 0.1 + 0.3 + 0 + 0.3) / 6)
    assert scores["jaccard_top_k"] == pytest.approx(1 / 3)
    assert scores["k"] == 2 and scores["jaccard_null"] == pytest.approx(jaccard_null(6, 2))


def test_nan_heads_are_left_out():
    a = np.array([[1.0, np.nan], [0.5, 0.0]])
    b = np.array([[1.0, 7.0], [0.0, 0.5]])
    scores = reuse_scores(a, b, k=1)
    assert scores["n_heads_compared"] == 3
    assert scores["mean_abs_diff"] == pytest.approx(1 / 3)
    assert scores["jaccard_top_k"] == 1.0  # head 1 (7.0 in b) is not a candidate
    assert np.isnan(reuse_scores(np.full((2, 2), np.nan), b, k=1)["mean_abs_diff"])


def test_top_k_ties_are_broken_at_random_not_by_head_order():
    tied = np.array([[1.0, 1.0], [1.0, 1.0]])
    everywhere = np.ones((2, 2), dtype=bool)
    assert top_k_heads(tied, everywhere, 1) == top_k_heads(tied, everywhere, 1)  # a fixed seed: reproducible
    chosen = {next(iter(top_k_heads(tied, everywhere, 1, seed=seed))) for seed in range(40)}
    assert chosen == {0, 1, 2, 3}  # every tied head can win, not just the first
    assert top_k_heads(np.array([[0.2, 0.9], [0.9, 0.1]]), everywhere, 1) <= {1, 2}  # the largest still come first


def test_only_heads_with_a_positive_effect_enter_the_top_k():
    # finding 6 of issue 17: two all-zero maps scored 1.0 and two maps with disjoint important heads 0.50
    zeros = np.zeros((2, 4))
    assert np.isnan(reuse_scores(zeros, zeros, k=4)["jaccard_top_k"])  # no positive head: no Jaccard
    a = np.array([[0.8, 0.6, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    b = np.array([[0.0, 0.0, 0.7, 0.5], [0.0, 0.0, 0.0, 0.0]])
    disjoint = reuse_scores(a, b, k=4)
    assert disjoint["jaccard_top_k"] == 0.0 and disjoint["top_k_sizes"] == [2, 2]
    assert disjoint["jaccard_null"] == pytest.approx(jaccard_null(8, 2, 2))
    # positive means the bootstrap interval is above 0: a head with a positive mean but an interval through 0 is out
    samples = np.stack([a + noise for noise in np.random.default_rng(0).normal(0, 0.01, (200, 2, 4))])
    samples[:, 0, 1] = np.linspace(-0.5, 1.5, 200)  # head 1: positive on average, interval through 0
    scores = reuse_with_intervals(a, a, samples, samples, k=4)
    assert scores["top_k_sizes"] == [1, 1] and scores["jaccard_top_k"] == 1.0


@given(st.integers(1, 6), st.data())
def test_jaccard_null_of_unequal_sizes_equals_the_average_over_every_pair(n, data):
    k_a, k_b = data.draw(st.integers(0, n)), data.draw(st.integers(1, n))
    first = [set(subset) for subset in itertools.combinations(range(n), k_a)]
    second = [set(subset) for subset in itertools.combinations(range(n), k_b)]
    brute = np.mean([len(a & b) / len(a | b) for a in first for b in second])
    assert jaccard_null(n, k_a, k_b) == pytest.approx(brute)


def test_default_k():
    assert default_k(6, 6) == 6 and default_k(2, 2) == 2 and default_k(1, 3) == 1


def per_example_estimator(effects: np.ndarray):
    """A map that is the mean of per-example effects [layer, head, example] over the chosen examples."""
    return lambda rows: effects[..., rows].mean(-1)


def test_bootstrap_intervals_are_paired_and_cover_the_estimate():
    rng = np.random.default_rng(0)
    true_a = np.array([[0.8, 0.1, 0.0], [0.4, 0.0, 0.2]])
    true_b = np.array([[0.7, 0.0, 0.1], [0.5, 0.1, 0.0]])
    effects_a = true_a[..., None] + rng.normal(0, 0.3, (2, 3, 200))
    effects_b = true_b[..., None] + rng.normal(0, 0.3, (2, 3, 200))
    a, b = per_example_estimator(effects_a), per_example_estimator(effects_b)
    samples_a, samples_b = resampled_maps(a, 200, 300, seed=4), resampled_maps(b, 200, 300, seed=4)
    assert samples_a.shape == (300, 2, 3)
    scores = reuse_with_intervals(a(slice(None)), b(slice(None)), samples_a, samples_b, k=2)
    for name in ("mean_abs_diff", "spearman", "jaccard_top_k"):
        lo, hi = scores[f"{name}_ci"]
        assert lo <= scores[name] <= hi
    lo, hi = head_intervals(samples_a)
    assert (lo < a(slice(None))).all() and (a(slice(None)) < hi).all()
    standard_error = 0.3 / np.sqrt(200)
    np.testing.assert_allclose(hi - lo, 2 * 1.96 * standard_error, rtol=0.25)
    # the same seed draws the same examples for both tasks: a task against itself has no spread at all
    itself = reuse_with_intervals(a(slice(None)), a(slice(None)), samples_a, resampled_maps(a, 200, 300, seed=4), k=2)
    assert itself["mean_abs_diff_ci"] == [0.0, 0.0] and itself["jaccard_top_k_ci"] == [1.0, 1.0]


def test_compared_lengths_under_both_protocols():
    main = TaskCompetence(8, {2: 1.0, 4: 0.95, 8: 0.85, 12: 0.0, 16: 0.0})
    aux = TaskCompetence(16, {2: 1.0, 4: 1.0, 8: 1.0, 12: 0.97, 16: 0.93})
    assert compared_lengths(Protocol.COMPETENT, main, aux) == ([2, 4], None)  # 8: main below 0.9; 12, 16: past L_main
    assert compared_lengths(Protocol.COMPETENT, main, aux, threshold=0.8) == ([2, 4, 8], None)
    assert compared_lengths(Protocol.PAPER, main, aux) == ([2, 4, 8, 12, 16], None)  # where GG averages
    assert compared_lengths(Protocol.COMPETENT, aux, aux) == ([2, 4, 8, 12, 16], None)  # one task's own map
    unlearned = TaskCompetence(8, {2: 0.1, 4: 0.0, 12: 0.0})
    lengths, reason = compared_lengths(Protocol.COMPETENT, unlearned, aux)
    assert lengths == [] and "not competent" in reason and "length 2, 10% and 100%" in reason
    lengths, reason = compared_lengths(Protocol.COMPETENT, TaskCompetence(8, {12: 1.0}), aux)
    assert lengths == [] and "no length up to 8" in reason
