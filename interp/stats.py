"""Statistics used across the suite, each checked against scipy or textbook values in tests/test_stats.py.

- :func:`wilson_interval`: the Wilson score interval for a binomial proportion (accuracy at one length);
  unlike the normal approximation it stays inside [0, 1] and is sensible at 0% and 100%.
- :func:`bootstrap_interval`: percentile bootstrap over resampled units (examples, seeds, runs).
- :func:`spearman`: Spearman's rank correlation (average ranks for ties).
- :func:`permutation_pvalue`: two-sided permutation p-value for a correlation, with the +1 correction
  (the observed labelling counts as one permutation), so p is never 0.
- :func:`benjamini_hochberg`: false-discovery-rate adjusted p-values.

Pitfall: bootstrap and permutation results depend on their seed; every function takes one and the
defaults are fixed, so reports are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import norm, rankdata


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
    lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], n_units: int, n_resamples: int = 1000,
    confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n_units`` resampled with replacement.

    ``statistic`` receives an index array (length ``n_units``) and returns a number; non-finite
    resamples (e.g. a correlation of constant values) are dropped.
    """
    if n_units < 1:
        raise ValueError("bootstrap needs at least one unit")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_units, n_units)) for _ in range(n_resamples)], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ (NaN when either side is constant)."""
    rx, ry = rankdata(x), rankdata(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def permutation_pvalue(
    x: np.ndarray, y: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
    n_permutations: int = 10_000, seed: int = 0,
) -> float:
    """Two-sided p-value of ``statistic(x, y)`` against random pairings: (1 + #|perm| ≥ |obs|) / (1 + N)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    observed = statistic(x, y)
    if not np.isfinite(observed):
        return float("nan")
    rng = np.random.default_rng(seed)
    extreme = sum(abs(statistic(x, rng.permutation(y))) >= abs(observed) - 1e-12 for _ in range(n_permutations))
    return (1 + extreme) / (1 + n_permutations)


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
