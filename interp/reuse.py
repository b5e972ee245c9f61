"""How much two tasks reuse the same heads: scores between two layer × head maps (SPEC §7).

    python -m interp.reuse --run DIR [--family F]   (prints a saved analysis's reuse scores)

Given map_A and map_B (one number per head, from ablation, patching or attention):

- ``mean_abs_diff``: mean over heads of |map_A − map_B| — the paper's score (Cai et al., arXiv
  2506.09251, Fig. 6): 0 when the maps agree; it is in the units of the map, so it shrinks with the
  effects themselves (two tasks that need no head agree perfectly);
- ``spearman``: Spearman rank correlation over heads — scale-free, 1 when the two tasks order the heads
  alike;
- ``jaccard_top_k``: |top_k(A) ∩ top_k(B)| / |top_k(A) ∪ top_k(B)| for the k heads with the largest values,
  beside ``jaccard_null``, its expectation when both top-k sets are random (exact, hypergeometric): an
  overlap is only evidence of reuse when it beats the null.

Each score comes with a percentile bootstrap interval over *examples*. A map is a function of the
examples it is estimated from (:data:`MapEstimator`: example indices → map); every task and length holds
the same number of test examples, so a bootstrap draw resamples example *slots* 0 … n − 1, shared by both
tasks of a pair and every length. Since the examples of different tasks and lengths are drawn
independently, pairing them by slot is arbitrary and the pairs are i.i.d., so resampling pairs is a valid
bootstrap for the two-sample statistic (and it lets every score reuse one set of resampled maps).

Pitfalls: heads with NaN (e.g. patching where the clean−corrupted gap vanishes) are left out of every
score. Top-k sets break ties by head order (layer-major), so maps with many equal values (accuracy
drops of 0) can share "top" heads by accident — read the Jaccard beside the null and beside Spearman.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import hypergeom

from interp.errors import cli_main
from interp.stats import spearman

MapEstimator = Callable[[np.ndarray | slice], np.ndarray]
"""Example indices (into every length's examples, or a slice) → a layer × head map."""

DEFAULT_RESAMPLES = 500
DEFAULT_CONFIDENCE = 0.95


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


def top_k_heads(values: np.ndarray, k: int) -> set[int]:
    """Flat indices of the k largest finite values (ties: the earlier head first)."""
    flat = np.asarray(values, dtype=float).ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    order = finite[np.argsort(-flat[finite], kind="stable")]
    return set(order[:k].tolist())


def jaccard_top_k(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Jaccard index of the two maps' top-k heads, over the heads finite in both."""
    a, b = finite_pair(a, b)
    if not len(a):
        return float("nan")
    k = min(k, len(a))
    top_a, top_b = top_k_heads(a, k), top_k_heads(b, k)
    return len(top_a & top_b) / len(top_a | top_b)


def jaccard_null(n: int, k: int) -> float:
    """E[Jaccard] of two independent uniformly random k-subsets of n heads (|A ∩ B| is hypergeometric)."""
    if n < 1:
        return float("nan")
    k = min(k, n)
    shared = np.arange(max(0, 2 * k - n), k + 1)
    return float(np.sum(hypergeom.pmf(shared, n, k, k) * shared / (2 * k - shared)))


def reuse_scores(a: np.ndarray, b: np.ndarray, k: int) -> dict[str, Any]:
    """Point estimates of every reuse score between two maps."""
    finite_a, finite_b = finite_pair(a, b)
    n = len(finite_a)
    return {
        "mean_abs_diff": mean_abs_diff(a, b),
        "spearman": spearman(finite_a, finite_b) if n > 1 else float("nan"),
        "jaccard_top_k": jaccard_top_k(a, b, k),
        "k": min(k, n),
        "jaccard_null": jaccard_null(n, k),
        "n_heads_compared": n,
    }


def resampled_maps(
    estimator: MapEstimator, n_units: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
) -> np.ndarray:
    """``estimator`` on ``n_resamples`` bootstrap draws of the example slots: [resample, layer, head].

    The draws depend only on (n_units, n_resamples, seed), so two tasks' resampled maps are paired.
    """
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN heads (e.g. patching without a gap)
        return np.stack([estimator(rng.integers(0, n_units, n_units)) for _ in range(n_resamples)])


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


def reuse_with_intervals(
    a: np.ndarray, b: np.ndarray, samples_a: np.ndarray, samples_b: np.ndarray, k: int,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """:func:`reuse_scores` plus ``*_ci`` bootstrap intervals from paired resampled maps."""
    scores = reuse_scores(a, b, k)
    draws = [reuse_scores(sample_a, sample_b, k) for sample_a, sample_b in zip(samples_a, samples_b)]
    for name in ("mean_abs_diff", "spearman", "jaccard_top_k"):
        scores[f"{name}_ci"] = percentile_interval(np.array([draw[name] for draw in draws]), confidence)
    return scores


@cli_main
def main(argv: list[str] | None = None) -> None:
    from interp.head_overlap import saved_analysis_parser, saved_record  # it imports this module
    from interp.report import summary_table

    parser = saved_analysis_parser("python -m interp.reuse", "Print the reuse scores of a saved head-reuse analysis "
                                   "(python -m interp.head_overlap measures them).")
    args = parser.parse_args(argv)
    print(summary_table(saved_record(args.run, args.family)))


if __name__ == "__main__":
    main()
