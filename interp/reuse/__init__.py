"""How much two tasks reuse the same heads: which lengths to compare, and scores between two maps (SPEC §7).

    python -m interp.reuse --run DIR [--family F]   (prints a saved analysis's reuse scores)

Which lengths (SPEC §7.1). An accuracy-drop map is bounded by the task's clean accuracy: where a task
fails, its map is ≈ 0 whatever heads it uses. Averaged over lengths where the main task fails (the
transfer window, before transfer), the main task's map differs from the auxiliary's *because* it fails,
so the difference tracks the generalisation gap by construction, whatever the circuits. :class:`Protocol`
names the two ways to choose a pair's lengths: ``competent`` (the default) compares the maps on the
lengths both tasks were trained on where both are competent (clean exact match ≥ 0.9), so the maps show
the heads each task uses when it works; ``paper`` averages over the lengths the generalisation gap
averages (l ≤ max(L_A, L_B)), one reading of Cai et al. (arXiv 2506.09251, §6), confounded with
accuracy. :func:`compared_lengths` makes the choice and says why when no length qualifies (the scores
are then null).

Scores, given map_A and map_B (one number per head, from ablation, patching or attention focus):

- ``mean_abs_diff``: mean over heads of |map_A − map_B| — the paper's score (Fig. 6): 0 when the maps
  agree; in the units of the map, so it shrinks with the effects themselves (two tasks that need no head
  agree perfectly);
- ``spearman``: Spearman rank correlation over heads — scale-free, 1 when the two tasks order the heads
  alike;
- ``jaccard_top_k``: |top_k(A) ∩ top_k(B)| / |top_k(A) ∪ top_k(B)|, where a top-k set holds at most k of
  the heads whose effect is positive (bootstrap interval above 0), largest first, ties broken at random
  with a fixed seed, never by head order. Beside it ``jaccard_null``, its expectation for random sets of
  the same sizes (exact, hypergeometric). Two maps without a positive head have no Jaccard (null, not 1):
  there is nothing to overlap.

Each score comes with a percentile bootstrap interval over *examples*. A map is a function of the examples
it is estimated from; every task and length holds the same number of test examples, so a bootstrap draw
resamples example *slots* 0 … n − 1, shared by both tasks of a pair and every length
(:func:`resampled_maps`). The examples of different tasks and lengths are drawn independently, so pairing
them by slot is arbitrary and the pairs are i.i.d.: resampling pairs is a valid bootstrap for the
two-sample statistic. The set of positive heads is fixed from the full-sample intervals; the draws
re-rank those heads.

Pitfalls: heads with NaN (e.g. patching where the clean−corrupted gap vanishes) are left out of every
score. ``mean_abs_diff`` is biased upwards by estimation noise, more so on fewer examples or lengths: compare
scores made with the same count and lengths.

The record that holds a checkpoint's maps and these scores is :class:`interp.reuse.record.HeadReuseRecord`.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from jaxtyping import Bool, Float
from scipy.stats import hypergeom

from interp.stats import spearman

MapEstimator = Callable[[np.ndarray | slice], np.ndarray]
"""Example indices (into every length's examples, or a slice) → a layer × head map."""

DEFAULT_RESAMPLES = 500
DEFAULT_CONFIDENCE = 0.95
DEFAULT_COMPETENCE = 0.9
"""Clean exact match both tasks need at a length for the competent protocol to compare them there."""
TIE_SEED = 0
"""Seed of the random tie-breaks among equal head effects."""


class Protocol(enum.Enum):
    """Which lengths a pair of tasks is compared on (SPEC §7.1)."""

    COMPETENT = "competent"
    """Lengths both tasks were trained on (l ≤ min(L_A, L_B)) where both have clean exact match ≥ the
    competence threshold: reuse measured where both tasks work, not confounded with accuracy."""
    PAPER = "paper"
    """Lengths the generalisation gap averages (l ≤ max(L_A, L_B)), one reading of the paper's maps: where one
    task fails its accuracy-drop map is ≈ 0, so the scores are confounded with accuracy."""


PAPER_CAUTION = ("paper protocol: maps averaged over lengths where a task may fail; an accuracy-drop map is ≈ 0 "
                 "where its task fails, so these scores are confounded with accuracy")


@dataclass(frozen=True)
class TaskCompetence:
    """What decides a task's lengths: its largest training length and its clean exact match per analysed length."""

    train_max: int
    clean_accuracy: dict[int, float]


def compared_lengths(
    protocol: Protocol, a: TaskCompetence, b: TaskCompetence, threshold: float = DEFAULT_COMPETENCE,
) -> tuple[list[int], str | None]:
    """The lengths a pair (or, with ``a`` = ``b``, one task) is compared on, and the reason when there is none."""
    shared = sorted(set(a.clean_accuracy) & set(b.clean_accuracy))
    if protocol is Protocol.PAPER:
        top = max(a.train_max, b.train_max)
        lengths = [length for length in shared if length <= top]
        return lengths, None if lengths else f"no length up to {top} was analysed for both"
    top = min(a.train_max, b.train_max)
    trained = [length for length in shared if length <= top]
    if not trained:
        return [], f"no length up to {top} (trained on by both) was analysed for both"
    lengths = [length for length in trained
               if a.clean_accuracy[length] >= threshold and b.clean_accuracy[length] >= threshold]
    if lengths:
        return lengths, None
    best = max(trained, key=lambda length: min(a.clean_accuracy[length], b.clean_accuracy[length]))
    return [], (f"not competent: no analysed length ≤ {top} has clean exact match ≥ {threshold:.0%} for both "
                f"(best: length {best}, {a.clean_accuracy[best]:.0%} and {b.clean_accuracy[best]:.0%})")


def default_k(n_layers: int, n_heads: int) -> int:
    """Top-k size: as many heads as one layer holds, but at most half of all heads."""
    return max(1, min(n_heads, (n_layers * n_heads) // 2))


def finite_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = finite_pair(a, b)
    return float(np.abs(a - b).mean()) if len(a) else float("nan")


def top_k_heads(values: np.ndarray, positive: np.ndarray, k: int, seed: int = TIE_SEED) -> set[int]:
    """Flat indices of the k largest finite values among the ``positive`` heads; ties in random order."""
    flat = np.asarray(values, dtype=float).ravel()
    candidates = np.flatnonzero(np.asarray(positive, dtype=bool).ravel() & np.isfinite(flat))
    tie_break = np.random.default_rng(seed).random(flat.size)[candidates]
    order = candidates[np.lexsort((tie_break, -flat[candidates]))]
    return set(order[:k].tolist())


def jaccard(top_a: set[int], top_b: set[int]) -> float:
    """|A ∩ B| / |A ∪ B|; NaN when both are empty (nothing to overlap)."""
    union = top_a | top_b
    return len(top_a & top_b) / len(union) if union else float("nan")


def jaccard_null(n: int, k_a: int, k_b: int | None = None) -> float:
    """E[Jaccard] of independent uniformly random subsets of sizes k_a and k_b of n heads (|A ∩ B| is
    hypergeometric); NaN when both are empty."""
    k_b = k_a if k_b is None else k_b
    k_a, k_b = min(k_a, n), min(k_b, n)
    if n < 1 or k_a + k_b == 0:
        return float("nan")
    shared = np.arange(max(0, k_a + k_b - n), min(k_a, k_b) + 1)
    return float(np.sum(hypergeom.pmf(shared, n, k_a, k_b) * shared / (k_a + k_b - shared)))


def reuse_scores(
    a: np.ndarray, b: np.ndarray, k: int, positive_a: np.ndarray | None = None, positive_b: np.ndarray | None = None,
) -> dict[str, Any]:
    """Point estimates of every reuse score between two maps over the heads finite in both; ``positive_*`` mark
    the heads each top-k set may hold (default: those with an effect above 0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    finite_a, finite_b = a[both], b[both]
    n = int(both.sum())
    positive_a = (a > 0) if positive_a is None else np.asarray(positive_a, dtype=bool)
    positive_b = (b > 0) if positive_b is None else np.asarray(positive_b, dtype=bool)
    top_a, top_b = top_k_heads(a, positive_a & both, k), top_k_heads(b, positive_b & both, k)
    return {
        "mean_abs_diff": mean_abs_diff(a, b),
        "spearman": spearman(finite_a, finite_b) if n > 1 else float("nan"),
        "jaccard_top_k": jaccard(top_a, top_b),
        "k": min(k, n),
        "top_k_sizes": [len(top_a), len(top_b)],
        "jaccard_null": jaccard_null(n, len(top_a), len(top_b)),
        "n_heads_compared": n,
    }


def resampled_maps(
    estimator: MapEstimator, n_units: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
) -> Float[np.ndarray, "resample layer head"]:
    """``estimator`` on ``n_resamples`` bootstrap draws of the example slots.

    The draws depend only on (n_units, n_resamples, seed), so two tasks' (and two lengths') resampled maps are
    paired.
    """
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN heads (e.g. patching without a gap)
        return np.stack([estimator(rng.integers(0, n_units, n_units)) for _ in range(n_resamples)])


def mean_over_lengths(maps: Sequence[np.ndarray]) -> np.ndarray:
    """The mean over lengths of per-length maps (any leading axes), NaN lengths left out per head."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(maps), axis=0)


def percentile_interval(values: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> list[float]:
    """[lo, hi] of the finite values (NaNs when there are none)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return [math.nan, math.nan]
    alpha = (1 - confidence) / 2
    return [float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))]


def head_intervals(samples: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Per head, the percentile interval of resampled maps [resample, layer, head] → (lo, hi) maps."""
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(samples, alpha, axis=0), np.nanquantile(samples, 1 - alpha, axis=0)


def positive_heads(samples: Float[np.ndarray, "resample layer head"],
                   confidence: float = DEFAULT_CONFIDENCE) -> Bool[np.ndarray, "layer head"]:
    """Heads whose bootstrap interval lies above 0: the candidates of a top-k set."""
    lo, _ = head_intervals(samples, confidence)
    return np.nan_to_num(lo, nan=0.0) > 0


def reuse_with_intervals(
    a: np.ndarray, b: np.ndarray, samples_a: np.ndarray, samples_b: np.ndarray, k: int,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """:func:`reuse_scores` (top-k sets among the heads whose interval is above 0) plus ``*_ci`` bootstrap
    intervals from paired resampled maps."""
    positive_a, positive_b = positive_heads(samples_a, confidence), positive_heads(samples_b, confidence)
    scores = reuse_scores(a, b, k, positive_a, positive_b)
    draws = [reuse_scores(sample_a, sample_b, k, positive_a, positive_b)
             for sample_a, sample_b in zip(samples_a, samples_b)]
    for name in ("mean_abs_diff", "spearman", "jaccard_top_k"):
        scores[f"{name}_ci"] = percentile_interval(np.array([draw[name] for draw in draws]), confidence)
    return scores
