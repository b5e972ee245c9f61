import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.reuse import (
    default_k,
    head_intervals,
    jaccard_null,
    jaccard_top_k,
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


def test_top_k_breaks_ties_by_head_order():
    assert top_k_heads(np.array([[0.0, 1.0], [1.0, 0.0]]), 1) == {1}
    assert jaccard_top_k(np.zeros((2, 2)), np.zeros((2, 2)), 2) == 1.0


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
