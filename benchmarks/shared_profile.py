"""A known answer for the head-reuse protocols (SPEC §7.1; issue 17, finding 1): the shared-profile simulation.

Both tasks of ``add_carry`` (add ≤ 16 with nocarry and carry ≤ 32) use one head-importance profile p (6 × 6
heads). At length l a task's accuracy-drop map is acc(l) · p plus estimation noise (standard deviation
``MAP_NOISE`` per head, about what 128 examples give). Across the checkpoints of a run only the main
task's reach changes: it extrapolates from 16 towards 32 along a logistic curve with a random midpoint and
width, plus jitter; the auxiliaries always reach 32. The two tasks use the same heads at every
checkpoint, so a reuse score that tracks GG here measures accuracy, not reuse.

The planted case has what the null lacks: the main task's profile moves from its own q towards the
auxiliaries' p as its reach grows (weight = the fraction of the transfer window it covers), so its heads
really come to resemble theirs while GG falls. A protocol that measures reuse finds this and not the null.

Each run is scored with the suite's own functions: GG from :func:`interp.evaluate.generalization_gap`, the
analysed lengths from :func:`interp.head_overlap.analysis_lengths`, a pair's lengths from
:func:`interp.reuse.compared_lengths`, both maps averaged over them (:func:`interp.reuse.mean_over_lengths`),
:func:`interp.reuse.mean_abs_diff` averaged over the main|aux pairs (as ``interp.correlate`` does); the
within-run p is :func:`interp.stats.ar1_surrogate_pvalue`, the computation of ``within_run_test``,
vectorised over runs; seeds (5 runs a group) are tested with :func:`interp.stats.seed_level_pvalues`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from interp.evaluate import generalization_gap
from interp.groups import load_group
from interp.head_overlap import analysis_lengths
from interp.reuse import Protocol, TaskCompetence, compared_lengths, mean_abs_diff, mean_over_lengths
from interp.stats import ar1_surrogate_pvalue, seed_level_pvalues, spearman_rows

GROUP = load_group("add_carry")
SHAPE = (6, 6)
MAP_NOISE = 0.03
"""Standard deviation of a map entry's estimation noise."""
EVAL_LENGTHS = range(1, 41)
SEEDS = 5
"""Runs per group in the seed-level rows."""
CHECKPOINTS = (21, 12)


def reaches(rng: np.random.Generator, runs: int, checkpoints: int) -> np.ndarray:
    """runs × checkpoints: how far the main task extrapolates, from its 16 towards the auxiliaries' 32."""
    time = np.linspace(0, 1, checkpoints)
    midpoint = rng.uniform(0.2, 0.8, (runs, 1))
    width = rng.uniform(0.05, 0.25, (runs, 1))
    jitter = rng.normal(0, 1.0, (runs, checkpoints))
    return np.clip(np.round(16 + 16 * expit((time - midpoint) / width) + jitter), 16, 32).astype(int)


def accuracy_at(reach: int) -> dict[str, dict[int, float]]:
    """Exact match per task and length: the main task up to its reach, the auxiliaries up to 32."""
    main = {length: float(length <= reach) for length in EVAL_LENGTHS}
    aux = {length: float(length <= 32) for length in EVAL_LENGTHS}
    return {GROUP.main.task: main, **{spec.task: aux for spec in GROUP.aux}}


def run_scores(rng: np.random.Generator, reach: np.ndarray, protocol: Protocol, planted: bool) -> tuple[list, list]:
    """One run: GG and the reuse score (mean over main|aux pairs of mean |Δ map|) at each checkpoint."""
    shared = rng.random(SHAPE) ** 3
    own = rng.random(SHAPE) ** 3
    analysed = analysis_lengths(GROUP, GROUP.task_names, None, protocol)
    gg, scores = [], []
    for step_reach in reach:
        accuracy = accuracy_at(int(step_reach))
        weight = (step_reach - 16) / 16 if planted else 1.0
        profiles = {spec.task: shared for spec in GROUP.aux} | {GROUP.main.task: weight * shared + (1 - weight) * own}
        competence = {spec.task: TaskCompetence(spec.max_length, {n: accuracy[spec.task][n] for n in analysed[spec.task]})
                      for spec in GROUP.specs}
        differences = []
        for aux in GROUP.aux:
            lengths, _ = compared_lengths(protocol, competence[GROUP.main.task], competence[aux.task])
            maps = [mean_over_lengths([accuracy[task][n] * profiles[task] + rng.normal(0, MAP_NOISE, SHAPE)
                                       for n in lengths]) for task in (GROUP.main.task, aux.task)]
            differences.append(mean_abs_diff(*maps))
        gg.append(generalization_gap(GROUP, accuracy))
        scores.append(float(np.mean(differences)))
    return gg, scores


def simulate(draws: int, checkpoints: int, protocol: Protocol, planted: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """draws × checkpoints of GG and the reuse score."""
    rng = np.random.default_rng(seed)
    runs = [run_scores(rng, reach, protocol, planted) for reach in reaches(rng, draws, checkpoints)]
    return np.array([gg for gg, _ in runs]), np.array([score for _, score in runs])


def rejection(p: np.ndarray, alpha: float) -> float:
    return float(np.mean(p <= alpha))


def shared_profile_rows(draws: int, seed: int, surrogates: int, alpha: float = 0.05) -> list[dict[str, object]]:
    """Per protocol and checkpoint count: how often the within-run p and the seed-level test reject on the shared
    profile (the null: a measure of reuse must not) and on the planted convergence (it must), and the mean ρ."""
    rows = []
    for checkpoints in CHECKPOINTS:
        for protocol in Protocol:
            result = {}
            for planted in (False, True):
                gg, score = simulate(draws, checkpoints, protocol, planted, seed)
                p = ar1_surrogate_pvalue(gg, score, surrogates, seed)["p"]
                rho = spearman_rows(gg, score)
                usable = draws - draws % SEEDS
                seed_p, _ = seed_level_pvalues(rho[:usable].reshape(-1, SEEDS))
                result[planted] = (rejection(p, alpha), float(np.nanmean(rho)), rejection(seed_p, alpha))
            rows.append({"protocol": protocol.value, "checkpoints": checkpoints, "null_within": result[False][0],
                         "null_rho": result[False][1], "null_seed_level": result[False][2],
                         "planted_within": result[True][0], "planted_rho": result[True][1],
                         "planted_seed_level": result[True][2]})
    return rows


def format_rows(rows: list[dict[str, object]], draws: int) -> str:
    lines = [f"{draws} simulated runs a cell; seed level: groups of {SEEDS} runs. Shared profile = the null (the tasks "
             "use the same heads throughout); planted = the main task's heads converge to the auxiliaries' as it "
             "transfers.", "",
             "| protocol | checkpoints | shared profile: mean ρ | within-run p ≤ 0.05 | seed level p ≤ 0.05 | "
             "planted: mean ρ | within-run p ≤ 0.05 | seed level p ≤ 0.05 |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['protocol']} | {row['checkpoints']} | {row['null_rho']:.2f} | {row['null_within']:.3f} | "
                     f"{row['null_seed_level']:.3f} | {row['planted_rho']:.2f} | {row['planted_within']:.3f} | "
                     f"{row['planted_seed_level']:.3f} |")
    return "\n".join(lines)
