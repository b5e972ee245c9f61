"""Does head reuse go together with length-generalisation transfer? Correlations that hold their error rates.

    python -m interp.correlate --runs DIR [DIR ...] [--methods ...] [--steps all|S,S,...] [--count N]
                               [--lengths 4 8] [--protocol competent|paper] [--competence 0.9]
                               [--eval-count N] [--eval-lengths 1-40] [--learned-threshold 0.9] [--out DIR]

Cai et al. ("Extrapolation by Association: Length Generalization Transfer in Transformers", arXiv
2506.09251, App. B) plot, over the checkpoints of one run, the generalisation gap GG next to the
difference between the main and auxiliary tasks' per-head maps, and see them shrink together. This
module puts numbers on that, with the seed (run) as the unit of replication (SPEC §7.2):

- Within a run, across its checkpoints: ρ(GG, score) is a *description* of that run. Its p-value comes
  from :func:`interp.stats.within_run_test`, valid for autocorrelated series (checkpoints of one run are
  not independent draws: an i.i.d. permutation of checkpoints rejects far too often).
- Per group (group × positional encoding × model), the primary result: one ρ per seed, tested across seeds
  (:func:`interp.stats.seed_level_test`), and each related group against its control — the control groups
  with the same main task, encoding and model (:func:`interp.stats.compare_with_control`).
- Across runs, one point per run at its final checkpoint: runs of different groups are not exchangeable,
  so the p-value permutes within groups (:func:`interp.stats.within_group_permutation_test`) and the number
  of groups is reported as the effective sample size.
- Benjamini–Hochberg over stated families: the seed-level tests of all groups and methods (primary
  score); the across-run tests of all methods, one family per score.

Which checkpoints count (SPEC §6–§7.1). A checkpoint enters only when it is ``learned`` (every task at or
above ``--learned-threshold`` on its training lengths: step 0 and a run on its plateau have GG ≈ 0 without
any transfer) and the pair has a score there (under the default ``competent`` protocol of
``interp.head_overlap``, a pair is scored only on lengths where both tasks are competent). The numbers
left out, and why, are reported per run. With ``--protocol paper`` the scores are the paper's reading and
every output says that they are confounded with accuracy.

Reuse score of a run. ``head_overlap`` scores pairs of tasks; a group has one main task and one or more
auxiliaries, so a run's score is the mean over its main|aux pairs (undefined when any pair is missing).
Scores and the sign of ρ(GG, score) that supports the reuse hypothesis:

- ``mean_abs_diff`` (the paper's metric for maps, mean |map_main − map_aux| over heads): lower = more
  reuse, so reuse predicts ρ > 0. It is the primary score of every map method; the others are under
  ``by_score``.
- ``spearman`` (rank agreement of the two maps) and ``jaccard_top_k`` (overlap of the top-k heads with a
  positive effect): higher = more reuse, so reuse predicts ρ < 0.
- ``difference``, the primary score of ``attention``: the paper's Σ|Ā_main − Ā_aux| per head, averaged over
  heads (on the pair's common part, or the labelled layout-free distance): lower = more reuse, ρ > 0.

Caching. Evaluations come from ``RUN/eval/step_NNNNNN.json`` and head analyses from
``RUN/analysis/steps/step_NNNNNN.json`` (``RUN/analysis/paper/steps/`` for the paper's protocol, kept beside
the competent one); each is recomputed only when missing or stale. An analysis is
stale when its checkpoint fingerprint (size and mtime of ``checkpoints/step_NNNNNN.safetensors``) differs
from the file on disk, when it covers only some of the group's tasks or lacks a requested method, when its
protocol or competence threshold differs from the requested one, or when its example count or lengths
differ from requested ones (options left unset accept what is cached; then the methods analysed at every
checkpoint of a run are the ones used). An evaluation is stale when it is older than its checkpoint or was
made with another ``--eval-count``/``--eval-lengths`` than requested.

Pitfalls. Correlation is not mechanism: the ablation and patching analyses are the causal evidence. A
within-run ρ on few included checkpoints is fragile (a caution is printed below 5). Baseline runs (no
auxiliary task) have neither GG nor a reuse score and are left out (listed under ``skipped``).

Writes ``OUT/correlation.json`` (``{"within_run": {RUN: {METHOD: {"rho", "p", "ci", "n", "excluded", ...}}},
"seed_level": {GROUP: {METHOD: {"n", "rho", "ci", "p", "p_fdr", "rhos", ...}}}, "versus_control": {GROUP: {METHOD:
{CONTROL: {...}}}}, "across_runs": {METHOD: {"rho", "p", "p_fdr", "n", "n_groups", ...}}, "runs": {RUN:
series}, ...}``) and ``OUT/correlation.html`` (GG and reuse against the step per run, included checkpoints
marked; per-seed ρ per group; reuse vs GG across runs coloured by group). OUT defaults to the folder
holding the runs.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from interp import head_overlap
from interp.cli import parse_lengths
from interp.errors import InterpError, cli_main
from interp.evaluate import evaluation_lengths
from interp.groups import TaskGroup
from interp.methods import Method
from interp.plots import TASK_COLOURS, write_html
from interp.reuse import DEFAULT_COMPETENCE, PAPER_CAUTION, Protocol
from interp.reuse.record import HeadReuseRecord
from interp.run import (
    analysis_dir,
    checkpoint_steps,
    read_config,
    resolve_step,
    step_record_path,
)
from interp.runs import (
    RunSelection,
    add_run_arguments,
    common_parent,
    evaluations,
    parse_run_arguments,
    run_labels,
)
from interp.stats import (
    benjamini_hochberg,
    compare_with_control,
    finite,
    seed_level_test,
    within_group_permutation_test,
    within_run_test,
)
from interp.storage import write_json

METHODS = tuple(method.value for method in Method)
SCORES = {
    "mean_abs_diff": ("rho > 0", "mean |map_main − map_aux| over heads; lower = more reuse"),
    "spearman": ("rho < 0", "Spearman rank agreement of the two maps; higher = more reuse"),
    "jaccard_top_k": ("rho < 0", "Jaccard overlap of the top-k heads with a positive effect; higher = more reuse"),
    "difference": ("rho > 0", "attention only: the paper's Σ|Ā_main − Ā_aux| per head, mean over heads (or the "
                              "labelled layout-free distance); lower = more reuse"),
}
"""Each score: the sign of ρ(GG, score) that supports reuse, and what it measures."""
ATTENTION = Method.ATTENTION.value
MIN_POINTS = 5
"""Fewer included checkpoints (within a run) than this earn a caution."""
POSITIONAL_SYMBOLS = {"rope": "circle", "nope": "diamond"}


def primary_score(method: str) -> str:
    """The score each method is judged by: the paper's attention difference, the paper's map difference."""
    return "difference" if method == ATTENTION else "mean_abs_diff"


def method_scores(method: str) -> list[str]:
    """Every score a method has, the primary first."""
    return ["difference"] if method == ATTENTION else ["mean_abs_diff", "spearman", "jaccard_top_k"]


@dataclass(frozen=True)
class AnalysisRequest:
    """What ``head_overlap`` is asked for; None = its default, and any cached value is accepted."""

    methods: tuple[str, ...] | None = None
    count: int | None = None
    lengths: list[int] | None = None
    device: str = "cpu"
    progress: bool = True
    protocol: str = Protocol.COMPETENT.value
    competence: float = DEFAULT_COMPETENCE


@dataclass(frozen=True)
class StatisticsSettings:
    """Surrogates or permutations per p-value, bootstrap resamples per interval, the interval's level, their seed."""

    permutations: int = 10_000
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass
class RunSeries:
    """One run's checkpoints: GG, transfer-window accuracy, learned, and reuse scores (method → score → values)."""

    label: str
    path: Path | None
    """None for a series made by hand (tests, simulations)."""
    group: TaskGroup
    positional: str
    seed: int
    model: str
    steps: list[int]
    gg: list[float | None]
    transfer_window_accuracy: list[float | None]
    learned: list[bool | None]
    reuse: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)

    @property
    def condition(self) -> str:
        """The group label its seeds pool under: group, positional encoding and model."""
        return condition_label(self.group.name, self.positional, self.model)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "group": self.group.name, "kind": self.group.kind,
                "main": self.group.main.task, "positional": self.positional, "seed": self.seed, "model": self.model,
                "condition": self.condition, "steps": self.steps, "gg": self.gg,
                "transfer_window_accuracy": self.transfer_window_accuracy, "learned": self.learned,
                "reuse": self.reuse}


def condition_label(group: str, positional: str, model: str) -> str:
    return f"{group} ({positional}, {model})"


# ---- head-reuse analyses per checkpoint, cached ------------------------------------------------------

def analysis_path(run_dir: Path, step: int, protocol: str = Protocol.COMPETENT.value) -> Path:
    """The per-step record of a protocol's analysis (the paper's kept beside the competent one)."""
    return step_record_path(analysis_dir(run_dir, protocol=protocol), step)


def analysis_is_fresh(record: HeadReuseRecord, run_dir: Path, step: int, group: TaskGroup,
                      request: AnalysisRequest) -> bool:
    """Same checkpoint, every task of the group, every requested method, the requested protocol and
    competence, and the requested count and lengths (when set)."""
    settings = record.settings
    if not settings.made_from_checkpoint_on_disk(run_dir) or record.step != step:
        return False
    if (settings.protocol.value, settings.competence) != (request.protocol, request.competence):
        return False
    if not set(group.task_names) <= set(settings.lengths):  # analysed for a subset of tasks
        return False
    if request.methods is not None and not set(request.methods) <= set(settings.methods):
        return False
    if request.count is not None and settings.count != request.count:
        return False
    if request.lengths is not None:
        wanted = {task: lengths for task, lengths in evaluation_lengths(group, request.lengths).items() if lengths}
        cached = {task: sorted(lengths) for task, lengths in settings.lengths.items() if lengths}
        return cached == wanted
    return True


def cached_analysis(run_dir: Path, step: int, group: TaskGroup, request: AnalysisRequest) -> HeadReuseRecord | None:
    """The fullest per-step record (``analysis/steps/``, or kept beside it) that is fresh for the request;
    None when there is none (missing, unreadable, stale or narrower)."""
    found = head_overlap.fullest_analysis(analysis_path(run_dir, step, request.protocol), run_dir,
                                          lambda record: analysis_is_fresh(record, run_dir, step, group, request))
    return None if found is None else found[1]


def compute_analysis(run_dir: Path, step: int, request: AnalysisRequest) -> HeadReuseRecord:
    """Run ``interp.head_overlap.analyze`` on one checkpoint; it writes the per-step record only (by the rule for
    results on disk: kept beside a fuller one), not the run's analysis and reports."""
    options: dict[str, Any] = {"step": step, "device": request.device, "progress": request.progress,
                               "protocol": request.protocol, "threshold": request.competence, "reports": False}
    if request.methods is not None:
        options["methods"] = list(request.methods)
    if request.count is not None:
        options["count"] = request.count
    if request.lengths is not None:
        options["lengths"] = request.lengths
    return head_overlap.analyze(run_dir, **options)


def analysis_at(run_dir: Path, step: int, group: TaskGroup, request: AnalysisRequest) -> HeadReuseRecord:
    """The head-reuse record of one checkpoint: cached when fresh, else computed."""
    return cached_analysis(run_dir, step, group, request) or compute_analysis(run_dir, step, request)


def reuse_score(record: HeadReuseRecord, group: TaskGroup, method: str, score: str) -> float | None:
    """A run's reuse score: the mean over its main|aux pairs; None if any pair lacks a value (not competent)."""
    values = [(record.pair_scores(method, group.main.task, aux.task) or {}).get(score) for aux in group.aux]
    if not values or not all(finite(value) for value in values):
        return None
    return sum(values) / len(values)


def record_methods(record: HeadReuseRecord) -> list[str]:
    return [method for method in record.reuse if method in METHODS]


# ---- series per run ---------------------------------------------------------------------------------

def collect_series(
    run_dir: Path, label: str, steps: Sequence[int] | None, request: AnalysisRequest,
    eval_count: int | None = None, eval_lengths: list[int] | None = None, learned_threshold: float | None = None,
) -> RunSeries:
    """GG, transfer-window accuracy, learned and reuse scores at the run's checkpoints (all when ``steps`` is
    None)."""
    config = read_config(run_dir)
    chosen = checkpoint_steps(run_dir) if steps is None else [resolve_step(run_dir, step) for step in steps]
    if not chosen:
        raise InterpError(f"run {run_dir} has no checkpoint yet")
    options = {} if learned_threshold is None else {"threshold": learned_threshold}
    summaries = evaluations(run_dir, chosen, eval_count, eval_lengths, request.device, config, **options)
    series = RunSeries(label, Path(run_dir), config.group, config.model.positional, config.seed, config.model_preset,
                       chosen, [summaries[step].gg for step in chosen],
                       [summaries[step].transfer_window_accuracy for step in chosen],
                       [summaries[step].learned for step in chosen])
    if not config.group.aux:
        return series
    records = [analysis_at(run_dir, step, config.group, request)
               for step in tqdm(chosen, desc=f"head reuse {label}", unit="checkpoint", disable=not request.progress,
                                leave=False)]
    methods = request.methods or sorted(set.intersection(*(set(record_methods(record)) for record in records)),
                                        key=METHODS.index)
    series.reuse = {method: {score: [reuse_score(record, config.group, method, score) for record in records]
                             for score in method_scores(method)} for method in methods}
    return series


# ---- statistics -------------------------------------------------------------------------------------

def included_checkpoints(series: RunSeries, values: Sequence[float | None]) -> tuple[list[int], dict[str, int]]:
    """Indices of the checkpoints that enter a correlation (learned, GG and score defined), and how many were
    left out for each reason."""
    included, excluded = [], {"not learned": 0, "no score (pair not competent)": 0}
    for index, (learned, gg, value) in enumerate(zip(series.learned, series.gg, values)):
        if not learned:
            excluded["not learned"] += 1
        elif not (finite(gg) and finite(value)):
            excluded["no score (pair not competent)"] += 1
        else:
            included.append(index)
    return included, excluded


def correlate_within(series: RunSeries, settings: StatisticsSettings) -> dict[str, Any]:
    """Per method and score: ρ(GG, score) over the included checkpoints, with an autocorrelation-valid p."""
    results = {}
    for method, scores in series.reuse.items():
        tests = {}
        for score, values in scores.items():
            included, excluded = included_checkpoints(series, values)
            test = within_run_test([series.gg[i] for i in included], [values[i] for i in included],
                                   settings.permutations, settings.confidence, settings.seed)
            caution = (f"only {len(included)} included checkpoint{'s' * (len(included) != 1)} (< {MIN_POINTS})"
                       if len(included) < MIN_POINTS else None)
            tests[score] = {**test, "steps": [series.steps[i] for i in included], "excluded": excluded,
                            "caution": caution}
        primary = primary_score(method)
        results[method] = {**tests[primary], "score": primary, "supports_reuse": SCORES[primary][0],
                           "by_score": {score: result for score, result in tests.items() if score != primary}}
    return results


def conditions(series: Sequence[RunSeries]) -> dict[str, list[RunSeries]]:
    """Runs by condition (group × positional encoding × model): the seeds of one experiment."""
    grouped: dict[str, list[RunSeries]] = {}
    for run in series:
        grouped.setdefault(run.condition, []).append(run)
    return grouped


def seed_level(series: Sequence[RunSeries], within: dict[str, dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Per condition and method: the per-seed ρ (primary score) tested across seeds; BH over all of them."""
    results: dict[str, dict[str, Any]] = {}
    for condition, runs in conditions(series).items():
        results[condition] = {}
        for method in methods:
            labels = [run.label for run in runs if method in within[run.label]]
            rhos = [within[label][method]["rho"] for label in labels]
            test = seed_level_test([rho for rho in rhos if finite(rho)])
            results[condition][method] = {**test, "runs": labels, "rhos": rhos, "score": primary_score(method)}
    tests = [test for by_method in results.values() for test in by_method.values()]
    adjusted = benjamini_hochberg([math.nan if test["p"] is None else test["p"] for test in tests])
    for test, p_fdr in zip(tests, adjusted):
        test["p_fdr"] = float(p_fdr) if math.isfinite(p_fdr) else None
    return results


def versus_control(series: Sequence[RunSeries], seed_results: dict[str, Any]) -> dict[str, Any]:
    """Each related (transfer) condition against every control condition with its main task, encoding and model:
    their per-seed ρ compared."""
    by_condition = {condition: runs[0] for condition, runs in conditions(series).items()}
    results: dict[str, Any] = {}
    for condition, run in by_condition.items():
        if run.group.kind != "transfer":
            continue
        controls = [other for other, control in by_condition.items() if control.group.kind == "control"
                    and (control.group.main.task, control.positional, control.model)
                    == (run.group.main.task, run.positional, run.model)]
        results[condition] = {method: {control: compare_with_control(
            [rho for rho in test["rhos"] if finite(rho)],
            [rho for rho in seed_results[control][method]["rhos"] if finite(rho)])
            for control in controls if method in seed_results[control]}
            for method, test in seed_results[condition].items()}
    return results


def final_point(run: RunSeries, method: str, score: str) -> tuple[float | None, float | None]:
    """(GG, score) at the run's final checkpoint, or Nones when that checkpoint does not enter."""
    values = run.reuse[method].get(score, [None])
    included, _ = included_checkpoints(run, values)
    last = len(run.steps) - 1
    return (run.gg[last], values[last]) if last in included else (None, None)


def correlate_across(series: Sequence[RunSeries], methods: Sequence[str], settings: StatisticsSettings) -> dict[str, Any]:
    """Per method: ρ(GG, score) over runs at their final checkpoints, permuting within conditions; BH across
    methods, one family per score."""
    tests: dict[str, dict[str, dict[str, Any]]] = {}
    for method in methods:
        having = [run for run in series if method in run.reuse]
        tests[method] = {}
        for score in method_scores(method):
            points = [(*final_point(run, method, score), run.condition, run.label) for run in having]
            kept = [point for point in points if finite(point[0]) and finite(point[1])]
            test = within_group_permutation_test([point[0] for point in kept], [point[1] for point in kept],
                                                 [point[2] for point in kept], settings.permutations, settings.seed)
            tests[method][score] = {**test, "runs": [point[3] for point in kept],
                                    "excluded": [point[3] for point in points if point not in kept]}
    for score in SCORES:
        family = [method for method in methods if score in tests[method]]
        adjusted = benjamini_hochberg([math.nan if tests[method][score]["p"] is None else tests[method][score]["p"]
                                       for method in family])
        for method, p_fdr in zip(family, adjusted):
            tests[method][score]["p_fdr"] = float(p_fdr) if math.isfinite(p_fdr) else None
    results = {}
    for method in methods:
        primary = primary_score(method)
        results[method] = {**tests[method][primary], "score": primary, "supports_reuse": SCORES[primary][0],
                           "by_score": {score: result for score, result in tests[method].items() if score != primary}}
    return results


# ---- the whole analysis -----------------------------------------------------------------------------

def correlate(
    runs: Sequence[Path], steps: Sequence[int] | None = None, request: AnalysisRequest = AnalysisRequest(),
    eval_count: int | None = None, eval_lengths: list[int] | None = None,
    settings: StatisticsSettings = StatisticsSettings(), learned_threshold: float | None = None,
) -> dict[str, Any]:
    """The ``correlation.json`` record for these runs (evaluations and analyses computed where needed)."""
    all_series = [collect_series(run, label, steps, request, eval_count, eval_lengths, learned_threshold)
                  for run, label in zip(runs, run_labels(runs))]
    skipped = {run.label: f"baseline group {run.group.name!r} has no auxiliary task" for run in all_series
               if not run.group.aux}
    series = [run for run in all_series if run.group.aux]
    if not series:
        raise InterpError("no run has an auxiliary task, so there is no transfer to correlate with")
    methods = [method for method in METHODS if any(method in run.reuse for run in series)]
    within = {run.label: correlate_within(run, settings) for run in series}
    seeds = seed_level(series, within, methods)
    return {
        "settings": {"methods": methods, "steps": "all" if steps is None else list(steps),
                     "count": request.count, "lengths": request.lengths, "protocol": request.protocol,
                     "competence": request.competence, "learned_threshold": learned_threshold,
                     "eval_count": eval_count, "eval_lengths": eval_lengths, "permutations": settings.permutations,
                     "resamples": settings.resamples, "confidence": settings.confidence, "seed": settings.seed},
        "caution": PAPER_CAUTION if request.protocol == Protocol.PAPER.value else None,
        "scores": {score: {"supports_reuse": sign, "meaning": meaning} for score, (sign, meaning) in SCORES.items()},
        "primary_scores": {method: primary_score(method) for method in methods},
        "families": {"seed_level": f"{sum(len(by) for by in seeds.values())} seed-level tests (conditions × "
                                   "methods, primary score)",
                     "across_runs": "the methods' across-run tests, one family per score"},
        "runs": {run.label: run.to_dict() for run in all_series},
        "skipped": skipped,
        "within_run": within,
        "seed_level": seeds,
        "versus_control": versus_control(series, seeds),
        "across_runs": correlate_across(series, methods, settings),
    }


# ---- output -----------------------------------------------------------------------------------------

def format_rho(result: dict[str, Any], name: str = "rho") -> str:
    """``ρ 0.80 [0.10, 1.00]`` (without the interval where there is none; ``ρ n/a`` when undefined)."""
    if result.get(name) is None:
        return "ρ n/a"
    interval = result.get("ci") or [None, None]
    if None in interval:
        return f"ρ {result[name]:.2f}"
    return f"ρ {result[name]:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def format_p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def excluded_text(excluded: dict[str, int]) -> str:
    parts = [f"{count} {reason}" for reason, count in excluded.items() if count]
    return ", ".join(parts) or "none"


def within_lines(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    lines = ["within each run, across its learned checkpoints: ρ(GG, primary score) (a description of the run; "
             "p valid for autocorrelated series)",
             f"{'run':<24} {'method':<18} {'ρ':<24} {'p':>8} {'n':>3}  left out"]
    cautions = []
    for label, methods in result["within_run"].items():
        for method, record in methods.items():
            lines.append(f"{label:<24} {method:<18} {format_rho(record):<24} {format_p(record['p']):>8} "
                         f"{record['n']:>3}  {excluded_text(record['excluded'])}")
            if record["caution"]:
                cautions.append(f"caution: {label} / {method}: {record['caution']}")
    return lines, cautions


def seed_lines(result: dict[str, Any]) -> list[str]:
    lines = ["per group, the primary test: one ρ per seed, tested across seeds (t-test on Fisher z; "
             f"Benjamini–Hochberg over {result['families']['seed_level']})",
             f"{'group':<32} {'method':<18} {'seeds':>5} {'ρ of mean z [95% CI]':<24} {'p':>8} {'p_fdr':>8}"]
    for condition, methods in result["seed_level"].items():
        for method, test in methods.items():
            lines.append(f"{condition:<32} {method:<18} {test['n']:>5} {format_rho(test):<24} "
                         f"{format_p(test['p']):>8} {format_p(test['p_fdr']):>8}")
    for condition, methods in result["versus_control"].items():
        for method, controls in methods.items():
            if not controls:
                lines.append(f"{condition} / {method}: no control run with its main task, encoding and model")
            for control, test in controls.items():
                lines.append(f"{condition} vs control {control} / {method}: difference in mean Fisher z "
                             f"{format_p(test['difference_z'])}, p {format_p(test['p'])} "
                             f"({test['n_related']} vs {test['n_control']} seeds)")
    return lines


def format_report(result: dict[str, Any]) -> str:
    """The tables printed by the command: per group across seeds, within each run, across runs, cautions."""
    lines = [f"{method}: score {score} ({SCORES[score][1]}); reuse predicts {SCORES[score][0]}"
             for method, score in result["primary_scores"].items()]
    if result["caution"]:
        lines += ["", f"CAUTION: {result['caution']}"]
    lines += ["", *seed_lines(result), ""]
    within, cautions = within_lines(result)
    lines += [*within, "", "across runs, final checkpoints: ρ(GG, score), permuted within groups "
              "(other scores in correlation.json)",
              f"{'method':<18} {'ρ':<24} {'p':>8} {'p_fdr':>8} {'runs':>4} {'groups':>6}"]
    for method, record in result["across_runs"].items():
        lines.append(f"{method:<18} {format_rho(record):<24} {format_p(record['p']):>8} "
                     f"{format_p(record['p_fdr']):>8} {record['n']:>4} {record.get('n_groups', 0):>6}")
        if record["excluded"]:
            cautions.append(f"across runs / {method}: left out (final checkpoint not learned or not competent): "
                            f"{', '.join(record['excluded'])}")
        if record["n_groups"] < 2:
            cautions.append(f"across runs / {method}: {record['n_groups']} group(s) with ≥ 2 runs; the across-run "
                            "test permutes within groups and needs several")
    lines += [f"skipped {label}: {reason}" for label, reason in result["skipped"].items()]
    models = sorted({run["model"] for run in result["runs"].values()})
    if len(models) > 1:
        cautions.append(f"runs of {len(models)} models ({', '.join(models)}): each model's runs are conditions of their "
                        "own, never pooled across seeds or permuted together")
    return "\n".join(lines + ([""] + cautions if cautions else []))


def group_colours(result: dict[str, Any]) -> dict[str, str]:
    names = sorted({run["group"] for run in result["runs"].values()})
    return {name: TASK_COLOURS[index % len(TASK_COLOURS)] for index, name in enumerate(names)}


def checkpoints_figure(result: dict[str, Any], method: str) -> go.Figure:
    """GG, transfer-window accuracy (left axis) and the primary score (right axis) against the step, per run;
    the checkpoints that enter the correlation are the filled markers."""
    score = result["primary_scores"][method]
    labels = [label for label, methods in result["within_run"].items() if method in methods]
    columns = min(3, len(labels))
    rows = math.ceil(len(labels) / columns)
    titles = [f"{label}: {format_rho(result['within_run'][label][method])}" for label in labels]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.12,
                           vertical_spacing=0.5 / rows, specs=[[{"secondary_y": True}] * columns] * rows)
    for index, label in enumerate(labels):
        run = result["runs"][label]
        included = set(result["within_run"][label][method]["steps"])
        where = {"row": index // columns + 1, "col": index % columns + 1}
        first = index == 0
        symbols = ["circle" if step in included else "circle-open" for step in run["steps"]]
        figure.add_trace(go.Scatter(x=run["steps"], y=run["gg"], name="GG", legendgroup="gg", showlegend=first,
                                    line={"color": "black"}, marker={"symbol": symbols}), **where, secondary_y=False)
        figure.add_trace(go.Scatter(x=run["steps"], y=run["transfer_window_accuracy"], name="transfer-window acc.",
                                    legendgroup="window", showlegend=first, line={"color": "grey", "dash": "dot"}),
                         **where, secondary_y=False)
        figure.add_trace(go.Scatter(x=run["steps"], y=run["reuse"][method][score], name=f"{method} {score}",
                                    legendgroup="score", showlegend=first, line={"color": TASK_COLOURS[0]},
                                    marker={"symbol": symbols}), **where, secondary_y=True)
        figure.update_yaxes(range=[-0.02, 1.02], **where, secondary_y=False)
    figure.update_xaxes(title_text="step")
    figure.update_layout(title=f"{method}: GG and {score} over checkpoints (filled: learned and scored, the ones "
                               f"correlated; reuse predicts {SCORES[score][0]})",
                         template="plotly_white", height=320 * rows + 120)
    return figure


def seeds_figure(result: dict[str, Any], method: str) -> go.Figure:
    """Per condition, each seed's within-run ρ and their mean with its interval: the primary result."""
    figure = go.Figure()
    colours = group_colours(result)
    for condition, methods in result["seed_level"].items():
        test = methods.get(method)
        if test is None:
            continue
        group = result["runs"][test["runs"][0]]["group"] if test["runs"] else condition
        rhos = [rho for rho in test["rhos"] if rho is not None]
        figure.add_trace(go.Scatter(x=[condition] * len(rhos), y=rhos, mode="markers", name=condition,
                                    marker={"color": colours.get(group, "grey"), "size": 9}, showlegend=False,
                                    hovertemplate="%{x}: ρ %{y:.2f}<extra></extra>"))
        if test["rho"] is not None and None not in test["ci"]:
            lo, hi = test["ci"]
            figure.add_trace(go.Scatter(
                x=[condition], y=[test["rho"]], mode="markers", marker={"symbol": "line-ew-open", "size": 28,
                                                                        "color": "black"},
                error_y={"type": "data", "symmetric": False, "array": [hi - test["rho"]],
                         "arrayminus": [test["rho"] - lo]}, showlegend=False,
                hovertemplate=f"{condition}: mean ρ %{{y:.2f}}, p {format_p(test['p'])}<extra></extra>"))
    figure.add_hline(y=0, line_color="grey")
    score = result["primary_scores"][method]
    figure.update_layout(title=f"{method}: ρ(GG, {score}) per seed and its mean over seeds (reuse predicts "
                               f"{SCORES[score][0]})", yaxis={"range": [-1.05, 1.05], "title": "within-run ρ"},
                         template="plotly_white")
    return figure


def scatter_figure(result: dict[str, Any], method: str) -> go.Figure:
    """Primary score vs GG at each run's final checkpoint: colour = group, marker = positional encoding."""
    record = result["across_runs"][method]
    score = result["primary_scores"][method]
    colours = group_colours(result)
    figure = go.Figure()
    shown = set()
    for label in record["runs"]:
        run = result["runs"][label]
        key = (run["group"], run["positional"])
        figure.add_trace(go.Scatter(
            x=[run["reuse"][method][score][-1]], y=[run["gg"][-1]], mode="markers", name=f"{key[0]} ({key[1]})",
            legendgroup=str(key), showlegend=key not in shown,
            marker={"color": colours[run["group"]], "symbol": POSITIONAL_SYMBOLS.get(run["positional"], "square"),
                    "size": 11, "line": {"width": 1, "color": "white"}},
            hovertemplate=f"{label} ({run['kind']}, seed {run['seed']})<br>{score} %{{x:.3f}}<br>GG %{{y:.3f}}"
                          "<extra></extra>"))
        shown.add(key)
    figure.update_layout(
        title=f"{method}: GG vs {score} across runs — {format_rho(record)}, p {format_p(record['p'])} (within "
              f"groups), p_FDR {format_p(record['p_fdr'])}, {record['n']} runs in {record.get('n_groups', 0)} groups",
        xaxis_title=f"{score} (main vs aux, final checkpoint)", yaxis_title="generalisation gap",
        yaxis={"range": [-0.02, 1.02]}, template="plotly_white")
    return figure


def write_correlation(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``correlation.json`` and ``correlation.html`` in ``out_dir`` (the record first)."""
    json_path, html_path = Path(out_dir) / "correlation.json", Path(out_dir) / "correlation.html"
    write_json(json_path, result)
    figures = []
    for method in result["settings"]["methods"]:
        figures += [seeds_figure(result, method), checkpoints_figure(result, method), scatter_figure(result, method)]
    body = "<h2>Report</h2><pre>" + format_report(result).replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
    write_html(html_path, figures, "Head reuse vs length-generalisation transfer", body)
    return json_path, html_path


def parse_steps(text: str) -> list[int] | None:
    """``all`` → None; ``0,100,200`` → [0, 100, 200]."""
    if text == "all":
        return None
    try:
        steps = sorted({int(item) for item in text.split(",") if item.strip()})
    except ValueError:
        raise InterpError(f"--steps takes 'all' or comma-separated steps like 0,1000,2000, got {text!r}") from None
    if not steps:
        raise InterpError("--steps needs at least one step")
    return steps


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """Which checkpoints and which head analyses (shared with the App. B script in analyses/)."""
    parser.add_argument("--methods", nargs="+", choices=METHODS, metavar="METHOD",
                        help=f"head-reuse methods among {', '.join(METHODS)} (default: those cached at every "
                             "checkpoint; head_overlap's default where it must compute)")
    parser.add_argument("--steps", default="all", help="'all' or comma-separated checkpoint steps")
    parser.add_argument("--count", type=int, help="head_overlap examples per task and length")
    parser.add_argument("--lengths", nargs="+", help="head_overlap lengths, e.g. 8 16")
    head_overlap.add_protocol_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def analysis_request(args: argparse.Namespace, selection: RunSelection) -> AnalysisRequest:
    if args.count is not None and args.count < 2:
        raise InterpError(f"--count must be at least 2 (resampling needs a donor), got {args.count}")
    if not 0 <= args.competence <= 1:
        raise InterpError(f"--competence is a fraction in [0, 1], got {args.competence}")
    return AnalysisRequest(tuple(args.methods) if args.methods else None, args.count, parse_lengths(args.lengths),
                           str(selection.device), not args.quiet, args.protocol, args.competence)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.correlate",
                                     description="Correlate head reuse with length-generalisation transfer.")
    add_run_arguments(parser)
    add_analysis_arguments(parser)
    parser.add_argument("--permutations", type=int, default=10_000, help="permutations or surrogates per p-value")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for each interval")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations and resamples")
    parser.add_argument("--out", type=Path, help="where correlation.json/.html go (default: the runs' folder)")
    args = parser.parse_args(argv)
    if args.permutations < 1 or args.resamples < 1:
        raise InterpError("--permutations and --resamples must be at least 1")
    selection = parse_run_arguments(args)
    result = correlate(selection.runs, parse_steps(args.steps), analysis_request(args, selection),
                       selection.eval_count, selection.eval_lengths,
                       StatisticsSettings(args.permutations, args.resamples, seed=args.seed),
                       selection.learned_threshold)
    print(format_report(result))
    json_path, html_path = write_correlation(result, args.out or common_parent(selection.runs))
    print(f"\nwrote {json_path} and {html_path}")


if __name__ == "__main__":
    main()
