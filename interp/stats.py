"""Statistics used across the suite, each checked against scipy, textbook values or a slow loop in
tests/test_stats.py, and calibrated where the answer is known by ``benchmarks/null_calibration.py``.

SPEC §7.2: the seed (run) is the unit of replication, and every test reported must hold its
false-positive rate on independent autocorrelated series. The tests, by where they are used:

- Within a run, across checkpoints (a description): :func:`within_run_test`, Spearman ρ(x, y) with a
  p-value from AR(1) surrogates. Checkpoints of one run are not exchangeable: both series drift with
  training and two trending series correlate whatever their relation (Granger & Newbold 1974, J.
  Econometrics 2:111), so an i.i.d. permutation of checkpoints rejects far too often. Each series'
  serial dependence is summarised by φ, the AR(1) coefficient whose expected lag-1 autocorrelation of
  the *ranks* at this length equals the observed one: a simulated mean-unbiased estimate, as Andrews
  (1993, Econometrica 61:139) inverts the estimator's median; the raw r₁ is biased far towards 0 at 12
  points. Ranks because ρ is a rank statistic: monotone transforms of a series (GG saturating at 0)
  change neither. Holding x fixed, ρ(x, y*) over surrogate AR(1) series y* with y's φ gives the null
  distribution of ρ given x (a sieve bootstrap, Bühlmann 1997, Bernoulli 3:123); the same with the
  roles swapped gives another, and the reported p is the larger of the two: valid when either series
  is AR(1)-like, and symmetric in x and y. φ = 1 (a random walk) is the ceiling: a series smoother
  than a random walk (a deterministic trend) is tested against random walks. Phase-randomised
  surrogates (Ebisuzaki 1997, J. Climate 10:2147) and circular shifts were tried and rejected by
  calibration (benchmarks/RESULTS.md); shifts also have only n − 1 distinct values (min p = 1/12 at 12
  checkpoints: valid but powerless). No interval is given for within-run ρ (``ci`` is null): an i.i.d.
  bootstrap over checkpoints is invalid here, and a block bootstrap cannot keep blocks long enough for
  φ near 1 and still have blocks to resample at 12–21 points. ``null_band`` instead says how large |ρ|
  must be to be unusual for series this autocorrelated.
- Per group, across seeds (the primary result): :func:`seed_level_test`, one ρ per seed, a one-sample
  t-test on Fisher's z = artanh ρ (ρ clipped to ±``FISHER_Z_CLIP`` so ρ = ±1 stays finite) with its t
  interval back-transformed, and Wilcoxon's signed-rank test beside it. Wilcoxon needs no normality but
  with few seeds it cannot reject: its smallest two-sided p is 2/2ⁿ (0.25 with 3 seeds, 0.0625 with 5).
  :func:`compare_with_control`: a related group against its control, Welch's t-test on the difference of
  mean z (related − control), an exact permutation p beside it (scipy, smallest p 2/C(n, k), 0.1 for
  3 against 3 seeds).
- Across runs: :func:`within_group_permutation_test`. Runs of different groups (domains, controls,
  RoPE/NoPE) are not exchangeable: group identity can move both axes, so a pooled ρ measures the
  groups. The statistic is a stratified Spearman ρ (ranks taken and centred within each group, then
  correlated), and y is permuted within groups only, so the test asks whether x and y go together
  inside groups. The number of groups contributing (≥ 2 runs) is reported as the effective sample
  size. scipy's ``permutation_test`` has no strata (its "pairings" permute a whole sample), hence a
  small numpy shuffle.
- :func:`benjamini_hochberg`: false-discovery-rate adjusted p-values (scipy's
  ``false_discovery_control``, Benjamini & Hochberg 1995, JRSS B 57:289); the caller states the family.

Sign conventions: ρ is Spearman's, positive when x and y rise together; every p is two-sided; a
difference is related − control.

Also here:

- :func:`wilson_interval`: the Wilson score interval for a binomial proportion (accuracy at one length);
  unlike the normal approximation it stays inside [0, 1] and is sensible at 0% and 100%.
- :func:`bootstrap_interval`: percentile bootstrap over resampled units (examples, seeds, runs);
  :func:`bootstrap_mean` is the common case, the mean of a handful of seeds with its interval.
- :func:`spearman`: Spearman's rank correlation (average ranks for ties).
- :func:`permutation_pvalue` and :func:`spearman_test`: ρ with an i.i.d. permutation p and bootstrap
  interval, for exchangeable units only (never checkpoints of a run, nor runs of different groups).
  Exact when n! ≤ the permutations asked for, else random with the +1 correction (the observed
  labelling counts), as ``scipy.stats.permutation_test(..., permutation_type="pairings")``; two-sided
  means |ρ_perm| ≥ |ρ| (scipy doubles the smaller one-sided p, which agrees when the null is symmetric).
- :func:`lag1_autocorrelation` and :func:`effective_sample_size`: n_eff = n (1 − r_x r_y) / (1 + r_x r_y)
  (Bretherton et al. 1999, J. Climate 12:1990, eq. 31), a rough caution. It is not used for p-values:
  r₁ from a dozen points is biased low, so n_eff overstates the information.

Pitfalls: every resampling result depends on its seed; every function takes one and the defaults are
fixed, so reports are reproducible. A bootstrap of a correlation over very few pairs draws many resamples
in which one side is constant; those are dropped, so the interval describes the resamples where ρ is
defined. A test valid against AR(1) nulls still says nothing about cause: two series that both follow
training will correlate in every run, and the seed-level test will then call that consistent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from itertools import permutations

import numpy as np
from scipy.stats import (
    false_discovery_control,
    norm,
    permutation_test,
    rankdata,
    ttest_1samp,
    ttest_ind,
    wilcoxon,
)

Series = Sequence[float | int | np.number | None] | np.ndarray
"""Numbers, one per unit (checkpoint, seed, run): a list (None where missing) or an array (NaN where missing)."""
Groups = Sequence[Hashable] | np.ndarray
"""One group label per unit."""
TIE_TOLERANCE = 1e-10
"""Permuted statistics within this (relative) distance of the observed one count as at least as extreme."""
FISHER_Z_CLIP = 0.999
"""ρ is clipped to ±this before artanh, so a seed with ρ = ±1 weighs as |z| = 3.8 rather than infinity."""
PHI_GRID = np.linspace(-0.9, 1.0, 77)
"""AR(1) coefficients the surrogates can take, in steps of 0.025; φ = 1 is a random walk."""
LAG1_TABLE_DRAWS = 4000
"""Series per φ when simulating the expected lag-1 rank autocorrelation (standard error ≈ 0.004)."""
MIN_WITHIN_POINTS = 4
"""Fewer checkpoints than this have no within-run p-value (φ needs a lag-1 estimate)."""
WITHIN_RUN_METHOD = "ar1_surrogates"


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
    values: Series, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """The mean of ``values`` (e.g. one number per seed) and its percentile bootstrap interval."""
    array = np.asarray(values, dtype=float)
    if not len(array):
        raise ValueError("the mean of no values")
    interval = bootstrap_interval(lambda rows: array[rows].mean(axis=1), len(array), n_resamples, confidence, seed,
                                  vectorized=True)
    return float(array.mean()), interval


def spearman(x: Series, y: Series) -> float:
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
    x: Series, y: Series, statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
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
    x: Series, y: Series, n_permutations: int = 10_000,
    n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
) -> dict[str, float | int | list[float] | None]:
    """``{"rho", "p", "ci": [lo, hi], "n"}`` for the pairs where both values are finite (None when undefined).

    The p-value and interval treat the pairs as exchangeable: not for checkpoints of one run
    (:func:`within_run_test`) nor for runs of different groups (:func:`within_group_permutation_test`).
    """
    xs, ys = complete_pairs(x, y)
    n = len(xs)
    if n < 2:
        return {"rho": None, "p": None, "ci": [None, None], "n": n}
    rho = spearman(xs, ys)
    p = permutation_pvalue(xs, ys, n_permutations=n_permutations, seed=seed)
    lo, hi = bootstrap_interval(lambda rows: spearman_rows(xs[rows], ys[rows]), n, n_resamples, confidence, seed,
                                vectorized=True)
    return {"rho": none_if_nan(rho), "p": none_if_nan(p), "ci": [none_if_nan(lo), none_if_nan(hi)], "n": n}


def complete_pairs(x: Series, y: Series) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) pairs where both values are finite, as two float arrays."""
    keep = [i for i, (a, b) in enumerate(zip(x, y, strict=True)) if finite(a) and finite(b)]
    return np.array([x[i] for i in keep], dtype=float), np.array([y[i] for i in keep], dtype=float)


# ---- within a run: AR(1) surrogates --------------------------------------------------------------------

def ar1_series(rng: np.random.Generator, phi: float | np.ndarray, n: int, size: tuple[int, ...]) -> np.ndarray:
    """Stationary AR(1) series x_t = φ x_{t−1} + ε_t (ε standard normal), shape ``size + (n,)``.

    ``phi`` broadcasts against ``size``; φ = 1 is a random walk from ε_0 (a level shift, which ranks ignore).
    """
    phi = np.broadcast_to(np.asarray(phi, dtype=float), size)
    series = rng.standard_normal(size + (n,))
    series[..., 0] /= np.sqrt(np.where(phi < 1, 1 - np.minimum(phi, 1) ** 2, 1.0))
    for t in range(1, n):
        series[..., t] += phi * series[..., t - 1]
    return series


def order_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0…n−1 along the last axis, for values without ties (simulated series)."""
    return values.argsort(axis=-1).argsort(axis=-1).astype(float)


@lru_cache(maxsize=64)
def expected_rank_lag1(n: int) -> np.ndarray:
    """E[r₁ of the ranks] of a length-n AR(1) at each φ of ``PHI_GRID``, simulated (fixed seed).

    Made non-decreasing so it can be inverted; read-only since it is cached.
    """
    rng = np.random.default_rng(1993)
    series = ar1_series(rng, PHI_GRID[:, None], n, (len(PHI_GRID), LAG1_TABLE_DRAWS))
    table = np.maximum.accumulate(lag1_autocorrelation(order_ranks(series)).mean(axis=1))
    table.flags.writeable = False
    return table


def bias_corrected_phi(series: np.ndarray) -> float | np.ndarray:
    """φ whose expected lag-1 rank autocorrelation at this length is the observed one (per row; NaN if constant)."""
    values = np.asarray(series, dtype=float)
    r1 = lag1_autocorrelation(rankdata(values, axis=-1))
    phi = np.interp(r1, expected_rank_lag1(values.shape[-1]), PHI_GRID)
    return float(phi) if np.ndim(phi) == 0 else phi


def centred_ranks(values: np.ndarray) -> np.ndarray:
    ranks = rankdata(values, axis=-1)
    return ranks - ranks.mean(axis=-1, keepdims=True)


def conditional_surrogate_pvalue(
    fixed: np.ndarray, varied: np.ndarray, n_surrogates: int, rng: np.random.Generator, confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """p of |ρ(fixed, varied)| against ρ(fixed, AR(1) surrogates of ``varied``), and the central null band.

    Rows × n arrays (any leading shape); returns p (leading shape) and the band (leading shape + (2,)).
    """
    n = fixed.shape[-1]
    rf, rv = centred_ranks(fixed), centred_ranks(varied)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.linalg.norm(rf, axis=-1)
        observed = (rf * rv).sum(-1) / (scale * np.linalg.norm(rv, axis=-1))
        phi = np.asarray(bias_corrected_phi(varied))
        surrogates = order_ranks(ar1_series(rng, phi[..., None], n, phi.shape + (n_surrogates,))) - (n - 1) / 2
        null = (surrogates @ rf[..., :, None])[..., 0] / (scale * math.sqrt(n * (n * n - 1) / 12))[..., None]
    extreme = np.abs(null) >= (np.abs(observed) - TIE_TOLERANCE * np.maximum(1.0, np.abs(observed)))[..., None]
    p = np.where(np.isfinite(observed), (1 + extreme.sum(-1)) / (1 + n_surrogates), np.nan)
    alpha = (1 - confidence) / 2
    return p, np.moveaxis(np.quantile(null, [alpha, 1 - alpha], axis=-1), 0, -1)


def ar1_surrogate_pvalue(
    x: np.ndarray, y: np.ndarray, n_surrogates: int = 9999, seed: int | np.random.Generator = 0,
    confidence: float = 0.95,
) -> dict[str, float | np.ndarray]:
    """The within-run p (the larger of the two conditional p-values), vectorised over rows of x and y.

    ``{"p", "p_given_x", "p_given_y", "null_band"}``: p_given_x surrogates y with x held fixed; the band
    is that of the direction whose p is reported.
    """
    rng = np.random.default_rng(seed)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    p_given_x, band_y = conditional_surrogate_pvalue(x, y, n_surrogates, rng, confidence)
    p_given_y, band_x = conditional_surrogate_pvalue(y, x, n_surrogates, rng, confidence)
    band = np.where((p_given_x >= p_given_y)[..., None], band_y, band_x)
    return {"p": np.fmax(p_given_x, p_given_y), "p_given_x": p_given_x, "p_given_y": p_given_y, "null_band": band}


def within_run_test(
    x: Series, y: Series, n_surrogates: int = 9999, confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, object]:
    """Spearman ρ over the checkpoints of one run with a p-value valid for autocorrelated series.

    ``{"rho", "p", "p_given_x", "p_given_y", "phi": {"x", "y"}, "null_band": [lo, hi], "ci": None, "n",
    "method"}`` over the pairs where both values are finite; None where undefined (p needs
    ``MIN_WITHIN_POINTS`` pairs and neither series constant). ``ci`` is None by design (module docstring).
    """
    xs, ys = complete_pairs(x, y)
    n = len(xs)
    rho = spearman(xs, ys) if n >= 2 else float("nan")
    record: dict[str, object] = {"rho": none_if_nan(rho), "p": None, "p_given_x": None, "p_given_y": None,
                                 "phi": {"x": None, "y": None}, "null_band": [None, None], "ci": None, "n": n,
                                 "method": WITHIN_RUN_METHOD}
    if n < MIN_WITHIN_POINTS or not finite(rho):
        return record
    result = ar1_surrogate_pvalue(xs, ys, n_surrogates, seed, confidence)
    return {**record, **{key: none_if_nan(float(result[key])) for key in ("p", "p_given_x", "p_given_y")},
            "phi": {"x": none_if_nan(bias_corrected_phi(xs)), "y": none_if_nan(bias_corrected_phi(ys))},
            "null_band": [none_if_nan(value) for value in result["null_band"]]}


# ---- across seeds: one ρ per seed ------------------------------------------------------------------------

def fisher_z(rhos: Series) -> np.ndarray:
    """artanh ρ with ρ clipped to ±``FISHER_Z_CLIP``."""
    return np.arctanh(np.clip(np.asarray(rhos, dtype=float), -FISHER_Z_CLIP, FISHER_Z_CLIP))


def wilcoxon_pvalues(values: np.ndarray) -> np.ndarray:
    """scipy's two-sided Wilcoxon signed-rank p of each row (exact for ≤ 13 values, ties included).

    Rows with tied or zero values are passed separately: scipy takes its exhaustive-permutation path
    for the whole batch when any row has one, about 600 times slower, with the same p-values.
    """
    values = np.asarray(values, dtype=float)
    rows = values.reshape(-1, values.shape[-1])
    magnitudes = np.sort(np.abs(rows), axis=-1)
    awkward = (np.diff(magnitudes, axis=-1) == 0).any(-1) | (magnitudes[:, 0] == 0)
    p = np.full(len(rows), np.nan)
    for subset in (awkward, ~awkward):
        if subset.any():
            p[subset] = wilcoxon(rows[subset], axis=-1).pvalue
    return p.reshape(values.shape[:-1])


def seed_level_pvalues(rhos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t-test p on Fisher z, Wilcoxon p) of each row of a rows × seeds matrix of ρ.

    The t-test is undefined (NaN) where a row's values are all equal: 0/0, which rounding turns into p = 0.
    """
    z = fisher_z(rhos)
    spread = np.ptp(z, axis=-1) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        t_p = np.where(spread, ttest_1samp(np.where(spread[..., None], z, 0.0), 0.0, axis=-1).pvalue, np.nan)
    return t_p, wilcoxon_pvalues(z)


def seed_level_test(rhos: Series, confidence: float = 0.95) -> dict[str, object]:
    """One ρ per seed of a group, tested across seeds: is the mean ρ different from 0?

    ``{"rho", "ci": [lo, hi], "p", "p_wilcoxon", "n", "method"}``: rho is tanh of the mean Fisher z, ci its
    t interval back-transformed, p the t-test on z, p_wilcoxon the signed-rank test beside it; None when
    fewer than 2 seeds have a ρ, and p and ci None when all seeds have the same ρ.
    """
    values = np.array([rho for rho in rhos if finite(rho)], dtype=float)
    record: dict[str, object] = {"rho": None, "ci": [None, None], "p": None, "p_wilcoxon": None, "n": len(values),
                                 "method": "t-test on Fisher z across seeds; Wilcoxon signed-rank beside it"}
    if len(values) < 2:
        return record
    z = fisher_z(values)
    t_p, wilcoxon_p = seed_level_pvalues(values)
    record |= {"rho": none_if_nan(math.tanh(z.mean())), "p": none_if_nan(float(t_p)),
               "p_wilcoxon": none_if_nan(float(wilcoxon_p))}
    if record["p"] is not None:
        interval = ttest_1samp(z, 0.0).confidence_interval(confidence)
        record["ci"] = [none_if_nan(math.tanh(interval.low)), none_if_nan(math.tanh(interval.high))]
    return record


def difference_of_means(related: np.ndarray, control: np.ndarray, axis: int = -1) -> float | np.ndarray:
    return related.mean(axis=axis) - control.mean(axis=axis)


def control_pvalues(
    related: np.ndarray, control: np.ndarray, n_permutations: int = 9999, seed: int = 0,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(Welch p, permutation p) for the difference of mean Fisher z, per row of two rows × seeds matrices."""
    z_related, z_control = fisher_z(related), fisher_z(control)
    welch = ttest_ind(z_related, z_control, axis=-1, equal_var=False).pvalue
    permuted = permutation_test((z_related, z_control), difference_of_means, permutation_type="independent",
                                vectorized=True, n_resamples=n_permutations, axis=-1, rng=seed).pvalue
    return welch, permuted


def compare_with_control(
    rhos_related: Series, rhos_control: Series, confidence: float = 0.95,
    n_permutations: int = 9999, seed: int = 0,
) -> dict[str, object]:
    """A related group's per-seed ρ against its control's: is the mean Fisher z different?

    ``{"difference_z", "ci_z": [lo, hi], "p", "p_permutation", "rho_related", "rho_control", "n_related",
    "n_control", "method"}``: difference_z = mean z (related) − mean z (control) with its Welch interval,
    p Welch's t-test, p_permutation the exact (or random, +1 corrected) permutation test of the same
    difference; rho_* are the back-transformed means. None where a group has fewer than 2 seeds.
    """
    related = np.array([rho for rho in rhos_related if finite(rho)], dtype=float)
    control = np.array([rho for rho in rhos_control if finite(rho)], dtype=float)
    record: dict[str, object] = {
        "difference_z": None, "ci_z": [None, None], "p": None, "p_permutation": None,
        "rho_related": none_if_nan(math.tanh(fisher_z(related).mean())) if len(related) else None,
        "rho_control": none_if_nan(math.tanh(fisher_z(control).mean())) if len(control) else None,
        "n_related": len(related), "n_control": len(control),
        "method": "Welch t-test on the difference of mean Fisher z (related − control); permutation beside it"}
    if len(related) < 2 or len(control) < 2:
        return record
    welch = ttest_ind(fisher_z(related), fisher_z(control), equal_var=False)
    interval = welch.confidence_interval(confidence)
    _, p_permutation = control_pvalues(related, control, n_permutations, seed)
    return {**record, "difference_z": none_if_nan(difference_of_means(fisher_z(related), fisher_z(control))),
            "ci_z": [none_if_nan(interval.low), none_if_nan(interval.high)], "p": none_if_nan(welch.pvalue),
            "p_permutation": none_if_nan(float(p_permutation))}


# ---- across runs: permutations within groups ---------------------------------------------------------

def group_members(groups: Groups) -> list[np.ndarray]:
    """Index arrays of the groups with at least 2 members (the others carry no within-group information)."""
    labels = list(groups)
    members = {}
    for index, label in enumerate(labels):
        members.setdefault(label, []).append(index)
    return [np.array(indices) for indices in members.values() if len(indices) >= 2]


def within_group_ranks(values: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Ranks taken and centred within each group (0 for runs of single-run groups), along the last axis."""
    ranks = np.zeros(np.shape(values))
    for indices in members:
        ranks[..., indices] = centred_ranks(values[..., indices])
    return ranks


def stratified_permutations(members: list[np.ndarray], n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` orderings of n indices, each shuffling indices within the groups only."""
    orderings = np.tile(np.arange(n), (count, 1))
    for indices in members:
        orderings[:, indices] = rng.permuted(orderings[:, indices], axis=1)
    return orderings


def within_group_pvalue(
    x: np.ndarray, y: np.ndarray, groups: Groups, n_permutations: int = 9999,
    seed: int | np.random.Generator = 0,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(stratified Spearman ρ, its within-group permutation p), vectorised over rows of x and y (shared groups)."""
    members = group_members(groups)
    rx, ry = within_group_ranks(np.asarray(x, dtype=float), members), within_group_ranks(np.asarray(y, dtype=float),
                                                                                       members)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.linalg.norm(rx, axis=-1) * np.linalg.norm(ry, axis=-1)
        observed = (rx * ry).sum(-1) / scale
        orderings = stratified_permutations(members, rx.shape[-1], n_permutations, np.random.default_rng(seed))
        null = (ry[..., orderings] * rx[..., None, :]).sum(-1) / scale[..., None]
    extreme = np.abs(null) >= (np.abs(observed) - TIE_TOLERANCE * np.maximum(1.0, np.abs(observed)))[..., None]
    return observed, np.where(np.isfinite(observed), (1 + extreme.sum(-1)) / (1 + n_permutations), np.nan)


def within_group_permutation_test(
    x: Series, y: Series, groups: Groups, n_permutations: int = 9999,
    seed: int = 0,
) -> dict[str, object]:
    """One point per run; do x and y go together within groups? Permutations within groups only.

    ``{"rho", "p", "n", "n_groups", "rho_pooled", "method"}`` over the runs where both values are finite:
    rho is the stratified Spearman ρ, n the runs in groups with ≥ 2 such runs, n_groups those groups (the
    effective sample size, SPEC §7.2), rho_pooled the plain ρ over all runs (a description that group
    identity can drive, no p). None where undefined (no group with 2 runs, or constant within groups).
    """
    keep = [i for i, (a, b) in enumerate(zip(x, y, strict=True)) if finite(a) and finite(b)]
    xs, ys = np.array([x[i] for i in keep], dtype=float), np.array([y[i] for i in keep], dtype=float)
    labels = [groups[i] for i in keep]
    members = group_members(labels)
    record: dict[str, object] = {"rho": None, "p": None, "n": int(sum(len(indices) for indices in members)),
                                 "n_groups": len(members),
                                 "rho_pooled": none_if_nan(spearman(xs, ys)) if len(keep) >= 2 else None,
                                 "method": "stratified Spearman, y permuted within groups"}
    if not members:
        return record
    rho, p = within_group_pvalue(xs, ys, labels, n_permutations, seed)
    return {**record, "rho": none_if_nan(float(rho)), "p": none_if_nan(float(p))}


# ---- multiple tests -----------------------------------------------------------------------------------

def benjamini_hochberg(pvalues: Series) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values over the family given (NaN entries stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.isfinite(p)
    if valid.any():
        adjusted[valid] = false_discovery_control(p[valid], method="bh")
    return adjusted


def lag1_autocorrelation(series: Series) -> float | np.ndarray:
    """r₁ = Σ (x_t − x̄)(x_{t+1} − x̄) / Σ (x_t − x̄)² (Box–Jenkins) along the last axis; NaN when constant or 1 point."""
    values = np.asarray(series, dtype=float)
    deviations = values - values.mean(axis=-1, keepdims=True)
    denominator = (deviations**2).sum(-1)
    numerator = (deviations[..., :-1] * deviations[..., 1:]).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r1 = np.where((denominator > 0) & (values.shape[-1] >= 2), numerator / denominator, np.nan)
    return float(r1) if r1.ndim == 0 else r1


def effective_sample_size(*series: Series) -> float:
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
