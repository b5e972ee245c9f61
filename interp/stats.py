"""Statistics used across the suite, each checked against scipy or textbook values in tests/test_stats.py.

- :func:`wilson_interval`: the Wilson score interval for a binomial proportion (accuracy at one length);
  unlike the normal approximation it stays inside [0, 1] and is sensible at 0% and 100%.
- :func:`bootstrap_interval`: percentile bootstrap over resampled units (examples, seeds, runs);
  :func:`bootstrap_mean` is the common case, the mean of a handful of seeds with its interval.
- :func:`spearman`: Spearman's rank correlation (average ranks for ties).
- :func:`permutation_pvalue`: two-sided permutation p-value for a correlation. When the number of
  orderings n! is at most the number of permutations asked for, every ordering is enumerated and the
  p-value is exact (the observed one is among them); otherwise random permutations are drawn with the +1
  correction (the observed labelling counts as one permutation), so p is never 0; the same switch as
  ``scipy.stats.permutation_test(..., permutation_type="pairings")``. Two-sided means |ρ_perm| ≥ |ρ|;
  scipy doubles the smaller one-sided p instead, which agrees whenever the null distribution is symmetric
  (always when one side has no ties).
- :func:`spearman_test`: ρ, its permutation p-value and a bootstrap interval over (x, y) pairs in one
  record ``{"rho", "p", "ci", "n"}``, dropping pairs with a missing value.
- :func:`benjamini_hochberg`: false-discovery-rate adjusted p-values.
- :func:`lag1_autocorrelation` and :func:`effective_sample_size`: how many independent points a series of
  checkpoints is worth. Checkpoints of one training run are not independent draws: both the generalisation
  gap and a reuse score drift smoothly with the step, and two trending series correlate whatever their
  relation. For two AR(1)-like series with lag-1 autocorrelations r_x and r_y, the correlation has about
  n_eff = n (1 − r_x r_y) / (1 + r_x r_y) degrees of freedom (Bretherton et al. 1999, J. Climate 12:1990,
  eq. 31); for one series this is the familiar n (1 − r₁) / (1 + r₁).

Pitfalls: bootstrap and permutation results depend on their seed; every function takes one and the
defaults are fixed, so reports are reproducible. A bootstrap of a correlation over very few pairs draws
many resamples in which one side is constant; those are dropped, so the interval describes the
resamples where ρ is defined and is wide, as it should be. A permutation test treats the units as
exchangeable: runs that share a group or checkpoints of one run are not, which is what the effective
sample size warns about.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import permutations

import numpy as np
from scipy.stats import norm, rankdata

TIE_TOLERANCE = 1e-10
"""Permuted statistics within this (relative) distance of the observed one count as at least as extreme."""


def wilson_interval(successes: int | np.ndarray, trials: int | np.ndarray, confidence: float = 0.95):
    """Wilson score interval (lo, hi) for ``successes`` out of ``trials`` (vectorised; trials ≥ 1)."""
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    if np.any(trials < 1) or np.any(successes < 0) or np.any(successes > trials):
        raise ValueError("need 0 <= successes <= trials and trials >= 1")
    z = norm.ppf(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    # exact at the edges (rounding leaves ~1e-17 otherwise): 0 successes → lo = 0, all → hi = 1
    lo = np.where(successes == 0, 0.0, np.clip(centre - half, 0, 1))
    hi = np.where(successes == trials, 1.0, np.clip(centre + half, 0, 1))
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float | np.ndarray], n_units: int, n_resamples: int = 1000,
    confidence: float = 0.95, seed: int = 0, vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n_units`` resampled with replacement.

    ``statistic`` receives an index array (length ``n_units``) and returns a number, or with
    ``vectorized`` all resamples at once (an ``n_resamples × n_units`` index matrix, the same draws) and
    returns one number per row. Non-finite resamples (e.g. a correlation of constant values) are dropped.
    """
    if n_units < 1:
        raise ValueError("bootstrap needs at least one unit")
    rng = np.random.default_rng(seed)
    if vectorized:
        values = np.asarray(statistic(rng.integers(0, n_units, (n_resamples, n_units))), dtype=float)
    else:
        values = np.array([statistic(rng.integers(0, n_units, n_units)) for _ in range(n_resamples)], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def bootstrap_mean(
    values: Sequence[float], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """The mean of ``values`` (e.g. one number per seed) and its percentile bootstrap interval."""
    array = np.asarray(values, dtype=float)
    if not len(array):
        raise ValueError("the mean of no values")
    interval = bootstrap_interval(lambda rows: array[rows].mean(axis=1), len(array), n_resamples, confidence, seed,
                                  vectorized=True)
    return float(array.mean()), interval


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ (NaN when either side is constant)."""
    rx, ry = rankdata(x), rankdata(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair of two ``rows × n`` matrices (NaN where a row is constant)."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    scale = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (rx * ry).sum(axis=1) / scale, np.nan)


def permutation_orderings(n: int, n_permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Index orderings for a permutation test and whether they are all n! of them (an exact test)."""
    if math.factorial(n) <= n_permutations:
        return np.array(list(permutations(range(n))), dtype=np.int64).reshape(-1, n), True
    rng = np.random.default_rng(seed)
    return rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1), False


def permutation_pvalue(
    x: np.ndarray, y: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
    n_permutations: int = 10_000, seed: int = 0,
) -> float:
    """Two-sided p-value of ``statistic(x, y)`` against re-pairings of y with x.

    Exact (#|perm| ≥ |obs| / n!) when n! ≤ ``n_permutations``, else (1 + #|perm| ≥ |obs|) / (1 + N)
    over N random permutations. For :func:`spearman` the permuted statistics are computed in one matrix
    product on the ranks (re-pairing y permutes its ranks); any other statistic is called per permutation.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    observed = statistic(x, y)
    if not np.isfinite(observed):
        return float("nan")
    orderings, exact = permutation_orderings(len(x), n_permutations, seed)
    if statistic is spearman:
        rx, ry = rankdata(x) - (len(x) + 1) / 2, rankdata(y) - (len(y) + 1) / 2
        permuted = ry[orderings] @ rx / (np.linalg.norm(rx) * np.linalg.norm(ry))
    else:
        permuted = np.array([statistic(x, y[ordering]) for ordering in orderings])
    extreme = int(np.count_nonzero(np.abs(permuted) >= abs(observed) - TIE_TOLERANCE * max(1.0, abs(observed))))
    if exact:
        return extreme / len(orderings)
    return (1 + extreme) / (1 + len(orderings))


def spearman_test(
    x: Sequence[float | None], y: Sequence[float | None], n_permutations: int = 10_000,
    n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
) -> dict[str, float | int | list[float] | None]:
    """``{"rho", "p", "ci": [lo, hi], "n"}`` for the pairs where both values are finite (None when undefined)."""
    pairs = np.array([(a, b) for a, b in zip(x, y) if finite(a) and finite(b)], dtype=float).reshape(-1, 2)
    xs, ys = pairs[:, 0], pairs[:, 1]
    n = len(pairs)
    if n < 2:
        return {"rho": None, "p": None, "ci": [None, None], "n": n}
    rho = spearman(xs, ys)
    p = permutation_pvalue(xs, ys, n_permutations=n_permutations, seed=seed)
    lo, hi = bootstrap_interval(lambda rows: spearman_rows(xs[rows], ys[rows]), n, n_resamples, confidence, seed,
                                vectorized=True)
    return {"rho": none_if_nan(rho), "p": none_if_nan(p), "ci": [none_if_nan(lo), none_if_nan(hi)], "n": n}


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    if not len(valid):
        return adjusted
    order = valid[np.argsort(p[valid])]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted[order] = np.minimum(1, np.minimum.accumulate(scaled[::-1])[::-1])
    return adjusted


def lag1_autocorrelation(series: Sequence[float]) -> float:
    """r₁ = Σ (x_t − x̄)(x_{t+1} − x̄) / Σ (x_t − x̄)² (Box–Jenkins); NaN for a constant or 1-point series."""
    values = np.asarray(series, dtype=float)
    deviations = values - values.mean()
    denominator = float(deviations @ deviations)
    if len(values) < 2 or denominator == 0:
        return float("nan")
    return float(deviations[:-1] @ deviations[1:]) / denominator


def effective_sample_size(*series: Sequence[float]) -> float:
    """n (1 − r) / (1 + r) with r the product of the series' lag-1 autocorrelations, r clipped to [0, 1].

    Negative autocorrelation would claim more than n independent points; it is clipped so n_eff ≤ n.
    NaN when a series is constant (its autocorrelation, and any correlation with it, is undefined).
    """
    lengths = {len(values) for values in series}
    if len(lengths) != 1:
        raise ValueError("the series must have one length")
    r = float(np.prod([lag1_autocorrelation(values) for values in series]))
    if not np.isfinite(r):
        return float("nan")
    r = min(max(r, 0.0), 1.0)
    return lengths.pop() * (1 - r) / (1 + r)


def finite(value: object) -> bool:
    """A real number that is neither None, NaN nor infinite."""
    return isinstance(value, (int, float, np.floating, np.integer)) and bool(np.isfinite(value))


def none_if_nan(value: float) -> float | None:
    """JSON has no NaN: undefined statistics are written as null."""
    return float(value) if finite(value) else None
