"""Calibration of every test ``interp.stats`` reports, where the answer is known (SPEC §7.2).

    python benchmarks/null_calibration.py [--draws 2000] [--seed 0] [--surrogates 999]

Prints, per test, the false-positive rate (FPR) at α = 0.05 with its Wilson 95% interval, over
``--draws`` simulated null data sets a cell, and the power (rejection rate) where a correlation is
planted; the goal is FPR ≤ 0.07 everywhere. Sections:

- within a run: x and y independent stationary AR(1) series (φ ∈ {0, 0.5, 0.8, 0.95}, one row with
  φ_x ≠ φ_y; 12 and 21 checkpoints). The suite's test (``within_run_test``: AR(1) surrogates, the larger
  of the two conditional p-values), the i.i.d. permutation p it replaced (``permutation_pvalue``, no
  longer used within runs), and candidates rejected by this calibration: AR(1) surrogates of y alone,
  phase-randomised surrogates of y (Ebisuzaki 1997) and circular shifts of y. Power: y = 0.7 x +
  √(1 − 0.7²) e with e an independent AR(1) of the same φ (correlation 0.7 at every checkpoint).
- across seeds: one within-run ρ per seed from such null pairs; ``seed_level_test`` (t on Fisher z,
  Wilcoxon) with 3 and 5 seeds, and ``compare_with_control`` (Welch, permutation) with 3 and 5 seeds a
  group. Power: every related seed planted as above (the control stays null).
- across runs: G groups × S runs, one point per run, where group identity moves x and y together
  (shift ~ N(0, 1) added to both, within-group noise N(0, 1), independent within groups).
  ``within_group_permutation_test`` against the i.i.d. permutation of the pooled points
  (``permutation_pvalue``, what ``spearman_test`` did across runs). Power: correlation 0.7 within groups,
  confound kept.
- shared profile (SPEC §7.1, ``benchmarks/shared_profile.py``): both tasks use one head profile and only
  the main task's reach changes across checkpoints; the competent protocol must find nothing there and
  the paper's protocol shows the confound; in the planted case the main task's heads converge to the
  auxiliaries' as it transfers, and both must find it.

The simulated series come from ``scipy.signal.lfilter`` with a burn-in of ``BURN_IN`` steps, not from
the suite's own AR(1) generator. Surrogate and permutation counts are ``--surrogates`` (the suite's
defaults are 9999; a Monte Carlo p with the +1 correction is valid at any count).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
from scipy.signal import lfilter
from shared_profile import format_rows as format_shared_profile
from shared_profile import shared_profile_rows

from interp.errors import InterpError, cli_main
from interp.stats import (
    ar1_surrogate_pvalue,
    centred_ranks,
    control_pvalues,
    order_ranks,
    permutation_pvalue,
    seed_level_pvalues,
    spearman_rows,
    wilson_interval,
    within_group_pvalue,
)

ALPHA = 0.05
PLANTED = 0.7
"""The correlation planted for power: at every checkpoint (within a run) or within groups (across runs)."""
BURN_IN = 200
CHUNK_VALUES = 5_000_000
"""Rows are processed in chunks of about this many surrogate values, to bound memory."""
WITHIN_CELLS = [(phi, phi, n) for phi in (0.0, 0.5, 0.8, 0.95) for n in (12, 21)] + [(0.95, 0.5, 12), (0.95, 0.5, 21)]
"""(φ_x, φ_y, checkpoints) of the within-run and seed-level sections."""
SEED_CELLS = [cell for cell in WITHIN_CELLS if cell[0] == cell[1] and cell[0] > 0]
ACROSS_CELLS = [(3, 3), (3, 5), (6, 3), (6, 5)]
"""(groups, runs per group) of the across-run section."""
Row = dict[str, object]


def ar1(rng: np.random.Generator, phi: float, n: int, draws: int) -> np.ndarray:
    """``draws`` × n stationary AR(1) series (unit innovations), started at 0 and run ``BURN_IN`` steps first."""
    innovations = rng.standard_normal((draws, BURN_IN + n))
    return lfilter([1.0], [1.0, -phi], innovations, axis=-1)[:, BURN_IN:]


def ar1_pairs(rng: np.random.Generator, phi_x: float, phi_y: float, n: int, draws: int,
              correlation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of AR(1) series, y = c·x + √(1 − c²)·e (e independent, φ_y); c = 0 is the null (φ_x ≠ φ_y allowed)."""
    x = ar1(rng, phi_x, n, draws) * math.sqrt(1 - phi_x**2)  # unit variance, so c is the correlation
    e = ar1(rng, phi_y, n, draws) * math.sqrt(1 - phi_y**2)
    return x, correlation * x + math.sqrt(1 - correlation**2) * e


def chunks(draws: int, per_draw: int) -> Iterator[slice]:
    size = max(1, CHUNK_VALUES // per_draw)
    return (slice(start, min(draws, start + size)) for start in range(0, draws, size))


def rate(rejected: np.ndarray) -> tuple[float, float, float]:
    """Rejection rate of the defined p-values and its Wilson 95% interval."""
    count = int(np.count_nonzero(rejected))
    lo, hi = wilson_interval(count, len(rejected))
    return count / len(rejected), lo, hi


def row(test: str, setting: str, null_p: np.ndarray, planted_p: np.ndarray | None = None) -> Row:
    fpr, lo, hi = rate(null_p <= ALPHA)
    power = None if planted_p is None else rate(planted_p <= ALPHA)[0]
    return {"test": test, "setting": setting, "fpr": fpr, "lo": lo, "hi": hi, "power": power}


# ---- within a run --------------------------------------------------------------------------------------

WITHIN_TESTS = ["AR(1) surrogates, larger of both directions (the suite's)", "i.i.d. permutation (old, no longer used)",
                "AR(1) surrogates of y only (rejected)", "phase-randomised surrogates of y (rejected)",
                "circular shifts of y (rejected)"]


def phase_surrogate_pvalue(x: np.ndarray, y: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Candidate: Ebisuzaki's phase-randomised surrogates of y (x fixed), Spearman ρ, two-sided, +1 corrected."""
    n = y.shape[-1]
    spectrum = np.fft.rfft(y - y.mean(-1, keepdims=True), axis=-1)[:, None, :]
    phases = np.exp(2j * np.pi * rng.random((len(y), count, spectrum.shape[-1])))
    surrogates = spectrum * phases
    if n % 2 == 0:  # the Nyquist term stays real: amplitude √2 cos θ keeps its variance
        surrogates[..., -1] = spectrum[..., -1] * math.sqrt(2) * phases[..., -1].real
    return surrogate_p(x, y, order_ranks(np.fft.irfft(surrogates, n=n, axis=-1)))


def circular_shift_pvalue(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Candidate: ρ(x, y shifted by k) over the n − 1 non-zero circular shifts k, +1 corrected."""
    ranks = centred_ranks(y)
    return surrogate_p(x, y, np.stack([np.roll(ranks, k, axis=-1) for k in range(1, y.shape[-1])], axis=1))


def surrogate_p(x: np.ndarray, y: np.ndarray, surrogate_ranks: np.ndarray) -> np.ndarray:
    """(1 + #{|ρ(x, y*)| ≥ |ρ(x, y)|}) / (1 + count) per row, from draws × count × n ranks of surrogates y*."""
    observed = spearman_rows(x, y)
    rx = centred_ranks(x)
    ranks = surrogate_ranks - surrogate_ranks.mean(-1, keepdims=True)
    null = (ranks @ rx[..., None])[..., 0] / (np.linalg.norm(ranks, axis=-1) * np.linalg.norm(rx, axis=-1)[:, None])
    return (1 + (np.abs(null) >= np.abs(observed)[:, None] - 1e-12).sum(-1)) / (1 + ranks.shape[1])


def within_run_pvalues(x: np.ndarray, y: np.ndarray, surrogates: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every within-run p-value compared here, per row of x and y."""
    p: dict[str, list[np.ndarray]] = {name: [] for name in WITHIN_TESTS}
    for rows in chunks(len(x), 2 * surrogates * x.shape[-1]):
        suite = ar1_surrogate_pvalue(x[rows], y[rows], surrogates, rng)
        p["AR(1) surrogates, larger of both directions (the suite's)"].append(suite["p"])
        p["AR(1) surrogates of y only (rejected)"].append(suite["p_given_x"])
        p["phase-randomised surrogates of y (rejected)"].append(phase_surrogate_pvalue(x[rows], y[rows], surrogates, rng))
        p["circular shifts of y (rejected)"].append(circular_shift_pvalue(x[rows], y[rows]))
    seed = int(rng.integers(2**31))
    p["i.i.d. permutation (old, no longer used)"] = [np.array([
        permutation_pvalue(a, b, n_permutations=surrogates, seed=seed + i) for i, (a, b) in enumerate(zip(x, y))])]
    return {name: np.concatenate(values) for name, values in p.items()}



def within_run_rows(draws: int, seed: int, surrogates: int) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    for phi_x, phi_y, n in WITHIN_CELLS:
        null = within_run_pvalues(*ar1_pairs(rng, phi_x, phi_y, n, draws), surrogates, rng)
        planted = within_run_pvalues(*ar1_pairs(rng, phi_x, phi_y, n, draws, PLANTED), surrogates, rng)
        setting = f"φ {phi_x:g}{'' if phi_x == phi_y else f' / {phi_y:g}'}, n {n}"
        rows += [row(test, setting, null[test], planted[test]) for test in WITHIN_TESTS]
    return rows


# ---- across seeds -----------------------------------------------------------------------------------------

def seed_rhos(rng: np.random.Generator, phi: float, n: int, draws: int, seeds: int, correlation: float) -> np.ndarray:
    """draws × seeds within-run Spearman ρ, each from its own AR(1) pair."""
    x, y = ar1_pairs(rng, phi, phi, n, draws * seeds, correlation)
    return spearman_rows(x, y).reshape(draws, seeds)


def seed_level_rows(draws: int, seed: int, surrogates: int) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    for phi, _, n in SEED_CELLS:
        for seeds in (3, 5):
            setting = f"φ {phi:g}, n {n}, {seeds} seeds"
            null, planted = (seed_rhos(rng, phi, n, draws, seeds, c) for c in (0.0, PLANTED))
            (t_null, w_null), (t_planted, w_planted) = seed_level_pvalues(null), seed_level_pvalues(planted)
            control = seed_rhos(rng, phi, n, draws, seeds, 0.0)
            welch_null, permutation_null = control_pvalues(null, control, surrogates, seed)
            welch_planted, permutation_planted = control_pvalues(planted, control, surrogates, seed)
            rows += [row("seed level: t-test on Fisher z (primary)", setting, t_null, t_planted),
                     row("seed level: Wilcoxon signed-rank", setting, w_null, w_planted),
                     row("related vs control: Welch t on Fisher z", setting, welch_null, welch_planted),
                     row("related vs control: permutation", setting, permutation_null, permutation_planted)]
    return rows


# ---- across runs ---------------------------------------------------------------------------------------

def grouped_points(rng: np.random.Generator, groups: int, runs: int, draws: int,
                   correlation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """draws × (groups·runs) points: a group shift added to x and y, within-group correlation c."""
    shift = np.repeat(rng.standard_normal((draws, groups)), runs, axis=1)
    x, e = rng.standard_normal((2, draws, groups * runs))
    y = correlation * x + math.sqrt(1 - correlation**2) * e
    return x + shift, y + shift, np.repeat(np.arange(groups), runs)


def across_run_pvalues(x: np.ndarray, y: np.ndarray, labels: np.ndarray, permutations: int,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(within-group p, pooled i.i.d. permutation p) per row."""
    within = np.concatenate([within_group_pvalue(x[rows], y[rows], labels, permutations, seed + rows.start)[1]
                             for rows in chunks(len(x), permutations * x.shape[-1])])
    pooled = np.array([permutation_pvalue(a, b, n_permutations=permutations, seed=seed + i)
                       for i, (a, b) in enumerate(zip(x, y))])
    return within, pooled


def across_run_rows(draws: int, seed: int, surrogates: int) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    for groups, runs in ACROSS_CELLS:
        setting = f"{groups} groups × {runs} runs"
        within_null, pooled_null = across_run_pvalues(*grouped_points(rng, groups, runs, draws, 0.0), surrogates, seed)
        within_planted, pooled_planted = across_run_pvalues(*grouped_points(rng, groups, runs, draws, PLANTED),
                                                            surrogates, seed)
        rows += [row("within-group permutation (the suite's)", setting, within_null, within_planted),
                 row("pooled i.i.d. permutation (old, no longer used)", setting, pooled_null, pooled_planted)]
    return rows


SECTIONS: dict[str, Callable[[int, int, int], list[Row]]] = {
    "within a run: ρ over checkpoints, independent AR(1) pairs": within_run_rows,
    "across seeds: one within-run ρ per seed, independent AR(1) pairs": seed_level_rows,
    "across runs: group identity moves both axes, independent within groups": across_run_rows,
}


def format_section(title: str, rows: list[Row], seconds: float) -> str:
    lines = [f"### {title} ({seconds:.0f} s)", "", "| test | setting | FPR at α = 0.05 [95% CI] | power |",
             "|---|---|---|---|"]
    for entry in rows:
        power = "" if entry["power"] is None else f"{entry['power']:.3f}"
        flag = " **> 0.07**" if entry["fpr"] > 0.07 else ""
        lines.append(f"| {entry['test']} | {entry['setting']} | {entry['fpr']:.3f} [{entry['lo']:.3f}, "
                     f"{entry['hi']:.3f}]{flag} | {power} |")
    return "\n".join(lines)


@cli_main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=2000, help="simulated data sets per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--surrogates", type=int, default=999, help="surrogates or permutations per p-value")
    args = parser.parse_args()
    if args.draws < 1 or args.surrogates < 1:
        raise InterpError(f"--draws and --surrogates must be positive, got {args.draws} and {args.surrogates}")
    start = time.perf_counter()
    for index, (title, section) in enumerate(SECTIONS.items()):
        began = time.perf_counter()
        rows = section(args.draws, args.seed + index, args.surrogates)
        print(format_section(title, rows, time.perf_counter() - began) + "\n", flush=True)
    began = time.perf_counter()
    rows = shared_profile_rows(args.draws, args.seed + len(SECTIONS), args.surrogates)
    print(f"### shared profile (SPEC §7.1): the competent protocol against the paper's ({time.perf_counter() - began:.0f} s)"
          f"\n\n{format_shared_profile(rows, args.draws)}\n", flush=True)
    print(f"{args.draws} draws a cell, {args.surrogates} surrogates or permutations per p-value, seed {args.seed}: "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
