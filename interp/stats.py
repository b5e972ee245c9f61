"""Statistics used across the suite, each checked against scipy or textbook values in tests/test_stats.py.

- :func:`wilson_interval`: the Wilson score interval for a binomial proportion (accuracy at one length);
  unlike the normal approximation it stays inside [0, 1] and is sensible at 0% and 100%.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


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

