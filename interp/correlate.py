"""Does head reuse go together with length-generalisation transfer? Spearman correlations with uncertainty.

    python -m interp.correlate --runs DIR [DIR ...] [--methods ...] [--steps all|S,S,...] [--count N]
                               [--lengths 4 8] [--eval-count N] [--eval-lengths 1-40] [--out DIR]

Cai et al. ("Extrapolation by Association: Length Generalization Transfer in Transformers", arXiv
2506.09251, App. B) plot, over the checkpoints of one run, the generalisation gap GG next to the
difference between the main and auxiliary tasks' per-head maps, and see them shrink together. This
module puts numbers on that:

- Within a run, across its checkpoints: GG(step), transfer-window accuracy(step) and every reuse score of
  ``interp.head_overlap`` for every method, then Spearman ρ(GG, score) with a permutation p-value (exact
  when the checkpoints are few) and a bootstrap interval over checkpoints.
- Across runs (groups × seeds × positional encodings, controls included): one point per run at its final
  checkpoint, ρ with a permutation p-value and a bootstrap interval over runs, and Benjamini–Hochberg
  false-discovery-rate correction across methods (one family per score).

Reuse score of a run. ``head_overlap`` scores pairs of tasks; a group has one main task and one or more
auxiliaries, so a run's score is the mean over its main|aux pairs (undefined when any pair is missing).
Scores and the sign of ρ(GG, score) that supports the reuse hypothesis:

- ``mean_abs_diff`` (the paper's metric, mean |map_main − map_aux| over heads): lower = more reuse, so
  reuse predicts ρ > 0 (GG shrinks as the maps converge). It is the primary score (``rho``/``p``/``ci``
  at the top of each record); the others are under ``by_score``.
- ``spearman`` (rank agreement of the two maps) and ``jaccard_top_k`` (overlap of the top-k heads):
  higher = more reuse, so reuse predicts ρ < 0.
- for ``attention`` only: ``pattern_l1_mean`` (the paper's Σ|Ā_main − Ā_aux| per head, averaged, where
  the two layouts match) and ``offset_js_mean`` (a layout-free distance): lower = more reuse, ρ > 0.

Caching. Evaluations come from ``RUN/eval/step_NNNNNN.json`` and head analyses from
``RUN/analysis/steps/step_NNNNNN.json``; each is recomputed only when missing or stale. An analysis is
stale when its checkpoint fingerprint (size and mtime of ``checkpoints/step_NNNNNN.safetensors``) differs
from the file on disk, when it covers only some of the group's tasks or lacks a requested method, or when
its example count or lengths differ from requested ones (options left unset accept what is cached; then
the methods analysed at every checkpoint of a run are the ones used). An evaluation is stale when it is
older than its checkpoint or was made with another ``--eval-count``/``--eval-lengths`` than requested.

Pitfalls. Checkpoints of one run are not independent: both series drift with training, and two trending
series correlate whatever their relation. Each within-run result therefore carries the effective sample
size n_eff = n (1 − r_gg r_score) / (1 + r_gg r_score) from the lag-1 autocorrelations (Bretherton et al.
1999), and a caution is printed and stored when n < 5 checkpoints or n_eff < 4 (or ρ is undefined because
a series is constant). Across runs the unit is the run (a caution below 5 runs); seeds of one group share
their data, so the permutation test's exchangeability is approximate. Correlation is not mechanism: the ablation and patching
analyses are the causal evidence. Baseline runs (no auxiliary task) have neither GG nor a reuse score and
are left out of the correlations (listed under ``skipped``).

Writes ``OUT/correlation.json`` (``{"within_run": {RUN: {METHOD: {"rho", "p", "ci", "n", ...}}},
"across_runs": {METHOD: {"rho", "p", "p_fdr", "ci", "n", ...}}, "runs": {RUN: series}, ...}``) and
``OUT/correlation.html`` (GG and reuse against the step, one small multiple per run; reuse vs GG across
runs coloured by group, marked by positional encoding; ρ and its interval in every title). OUT defaults
to the folder holding the runs.
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
from interp.errors import InterpError, cli_main
from interp.evaluate import evaluation_lengths, parse_lengths
from interp.groups import TaskGroup
from interp.plots import TASK_COLOURS, write_html
from interp.run import checkpoint_steps, read_config, resolve_step
from interp.seeds import (
    RunSelection,
    add_run_arguments,
    checkpoint_file,
    common_parent,
    evaluations,
    parse_run_arguments,
    run_labels,
)
from interp.stats import (
    benjamini_hochberg,
    effective_sample_size,
    finite,
    lag1_autocorrelation,
    spearman_test,
)
from interp.storage import read_json, write_json

METHODS = tuple(method.value for method in head_overlap.Method)
SCORES = {
    "mean_abs_diff": ("rho > 0", "mean |map_main − map_aux| over heads; lower = more reuse"),
    "spearman": ("rho < 0", "Spearman rank agreement of the two maps; higher = more reuse"),
    "jaccard_top_k": ("rho < 0", "Jaccard overlap of the top-k heads; higher = more reuse"),
    "pattern_l1_mean": ("rho > 0", "attention only: the paper's Σ|Ā_main − Ā_aux| per head, averaged, where the "
                                   "layouts match; lower = more reuse"),
    "offset_js_mean": ("rho > 0", "attention only: Jensen–Shannon distance of attention-by-offset profiles; "
                                  "lower = more reuse"),
}
"""Each score: the sign of ρ(GG, score) that supports reuse, and what it measures."""
PRIMARY_SCORE = "mean_abs_diff"
MIN_POINTS = 5
"""Fewer checkpoints (within a run) or runs (across runs) than this earn a caution."""
MIN_EFFECTIVE_SAMPLE = 4.0
POSITIONAL_SYMBOLS = {"rope": "circle", "nope": "diamond"}


@dataclass(frozen=True)
class AnalysisRequest:
    """What ``head_overlap`` is asked for; None = its default, and any cached value is accepted."""

    methods: tuple[str, ...] | None = None
    count: int | None = None
    lengths: list[int] | None = None
    device: str = "cpu"
    progress: bool = True


@dataclass(frozen=True)
class StatisticsSettings:
    """Permutations per p-value, bootstrap resamples per interval, the interval's level, their seed."""

    permutations: int = 10_000
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass
class RunSeries:
    """One run's checkpoints: GG, transfer-window accuracy and reuse scores (method → score → values)."""

    label: str
    path: Path
    group: TaskGroup
    positional: str
    seed: int
    steps: list[int]
    gg: list[float | None]
    transfer_window_accuracy: list[float | None]
    reuse: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "group": self.group.name, "kind": self.group.kind,
                "positional": self.positional, "seed": self.seed, "steps": self.steps, "gg": self.gg,
                "transfer_window_accuracy": self.transfer_window_accuracy, "reuse": self.reuse}


# ---- head-reuse analyses per checkpoint, cached ------------------------------------------------------

def analysis_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "analysis" / "steps" / f"step_{step:06d}.json"


def checkpoint_fingerprint(run_dir: Path, step: int) -> dict[str, int]:
    """What a cached analysis must have been computed from: the checkpoint's size and modification time."""
    stat = checkpoint_file(run_dir, step).stat()
    return {"step": step, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def analysis_is_fresh(record: dict[str, Any], run_dir: Path, step: int, group: TaskGroup,
                      request: AnalysisRequest) -> bool:
    """Same checkpoint, every task of the group, every requested method, and the requested count and
    lengths (when set)."""
    settings = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(settings, dict) or not isinstance(record.get("reuse"), dict):
        return False
    checkpoint = settings.get("checkpoint") or {}
    fingerprint = checkpoint_fingerprint(run_dir, step)
    if any(checkpoint.get(key) != value for key, value in fingerprint.items()):
        return False
    if not set(group.task_names) <= set(settings.get("lengths") or {}):  # analysed for a subset of tasks
        return False
    if request.methods is not None and not set(request.methods) <= set(settings.get("methods") or ()):
        return False
    if request.count is not None and settings.get("count") != request.count:
        return False
    if request.lengths is not None:
        wanted = {task: lengths for task, lengths in evaluation_lengths(group, request.lengths).items() if lengths}
        cached = {task: sorted(lengths) for task, lengths in (settings.get("lengths") or {}).items() if lengths}
        return cached == wanted
    return True


def cached_analysis(run_dir: Path, step: int, group: TaskGroup, request: AnalysisRequest) -> dict[str, Any] | None:
    """The per-step record in ``analysis/steps/`` when it is fresh; None when missing, unreadable or stale."""
    path = analysis_path(run_dir, step)
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except InterpError:  # a torn or foreign file is recomputed, not trusted
        return None
    return record if analysis_is_fresh(record, run_dir, step, group, request) else None


def compute_analysis(run_dir: Path, step: int, request: AnalysisRequest) -> dict[str, Any]:
    """Run ``interp.head_overlap.analyze`` on one checkpoint (it writes the per-step cache)."""
    options: dict[str, Any] = {"step": step, "device": request.device, "progress": request.progress}
    if request.methods is not None:
        options["methods"] = list(request.methods)
    if request.count is not None:
        options["count"] = request.count
    if request.lengths is not None:
        options["lengths"] = request.lengths
    return head_overlap.analyze(run_dir, **options)


def analysis_at(run_dir: Path, step: int, group: TaskGroup, request: AnalysisRequest) -> dict[str, Any]:
    """The head-reuse record of one checkpoint: cached when fresh, else computed."""
    return cached_analysis(run_dir, step, group, request) or compute_analysis(run_dir, step, request)


def main_aux_pairs(record: dict[str, Any], group: TaskGroup, method: str) -> list[dict[str, Any]]:
    """The scores of each main|aux pair (stored in either order; an empty dict where one is missing)."""
    pairs = record.get("reuse", {}).get(method, {})
    return [pairs.get(f"{group.main.task}|{aux.task}") or pairs.get(f"{aux.task}|{group.main.task}") or {}
            for aux in group.aux]


def reuse_score(record: dict[str, Any], group: TaskGroup, method: str, score: str) -> float | None:
    """A run's reuse score: the mean over its main|aux pairs; None if any pair lacks a value."""
    values = [entry.get(score) for entry in main_aux_pairs(record, group, method)]
    if not values or not all(finite(value) for value in values):
        return None
    return sum(values) / len(values)


def method_scores(records: Sequence[dict[str, Any]], group: TaskGroup, method: str) -> list[str]:
    """The primary score, and every other score some record holds for this method."""
    held = {score for record in records for entry in main_aux_pairs(record, group, method) for score in entry}
    return [score for score in SCORES if score == PRIMARY_SCORE or score in held]


def record_methods(record: dict[str, Any]) -> list[str]:
    return [method for method in record.get("reuse", {}) if method in METHODS]


# ---- series per run ---------------------------------------------------------------------------------

def collect_series(
    run_dir: Path, label: str, steps: Sequence[int] | None, request: AnalysisRequest,
    eval_count: int | None = None, eval_lengths: list[int] | None = None,
) -> RunSeries:
    """GG, transfer-window accuracy and reuse scores at the run's checkpoints (all when ``steps`` is None)."""
    config = read_config(run_dir)
    chosen = checkpoint_steps(run_dir) if steps is None else [resolve_step(run_dir, step) for step in steps]
    if not chosen:
        raise InterpError(f"run {run_dir} has no checkpoint yet")
    summaries = evaluations(run_dir, chosen, eval_count, eval_lengths, request.device, config)
    series = RunSeries(label, Path(run_dir), config.group, config.model.positional, config.seed, chosen,
                       [summaries[step]["gg"] for step in chosen],
                       [summaries[step]["transfer_window_accuracy"] for step in chosen])
    if not config.group.aux:
        return series
    records = [analysis_at(run_dir, step, config.group, request)
               for step in tqdm(chosen, desc=f"head reuse {label}", unit="checkpoint", disable=not request.progress,
                                leave=False)]
    methods = request.methods or sorted(set.intersection(*(set(record_methods(record)) for record in records)),
                                        key=METHODS.index)
    series.reuse = {method: {score: [reuse_score(record, config.group, method, score) for record in records]
                             for score in method_scores(records, config.group, method)} for method in methods}
    return series


# ---- statistics -------------------------------------------------------------------------------------

def checkpoint_caution(gg: Sequence[float | None], score: Sequence[float | None]) -> tuple[float | None, str | None]:
    """The effective sample size of the (GG, score) checkpoints and a caution when they mean little.

    Rule: caution when fewer than 5 checkpoints have both values, when n_eff < 4, or when a series is
    constant (ρ undefined).
    """
    pairs = [(a, b) for a, b in zip(gg, score) if finite(a) and finite(b)]
    n = len(pairs)
    xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
    n_eff = effective_sample_size(xs, ys) if n >= 2 else float("nan")
    reasons = []
    if n < MIN_POINTS:
        reasons.append(f"only {n} checkpoint{'s' * (n != 1)} (< {MIN_POINTS})")
    if n >= 2 and not math.isfinite(n_eff):
        reasons.append("a series is constant, so ρ is undefined")
    elif math.isfinite(n_eff) and n_eff < MIN_EFFECTIVE_SAMPLE:
        reasons.append(f"effective sample size {n_eff:.1f} < {MIN_EFFECTIVE_SAMPLE:g} (lag-1 autocorrelations "
                       f"{lag1_autocorrelation(xs):.2f}, {lag1_autocorrelation(ys):.2f})")
    return (n_eff if math.isfinite(n_eff) else None), ("; ".join(reasons) or None)


def correlate_within(series: RunSeries, settings: StatisticsSettings) -> dict[str, Any]:
    """Per method and score: ρ(GG, score) over checkpoints with p, interval, n_eff and caution."""
    results = {}
    for method, scores in series.reuse.items():
        tests = {}
        for score, values in scores.items():
            n_eff, caution = checkpoint_caution(series.gg, values)
            tests[score] = {**spearman_record(series.gg, values, settings), "n_eff": n_eff, "caution": caution}
        results[method] = {**tests[PRIMARY_SCORE], "score": PRIMARY_SCORE, "supports_reuse": SCORES[PRIMARY_SCORE][0],
                           "by_score": {score: result for score, result in tests.items() if score != PRIMARY_SCORE}}
    return results


def correlate_across(series: Sequence[RunSeries], methods: Sequence[str], settings: StatisticsSettings) -> dict[str, Any]:
    """Per method: ρ(GG, score) over runs at their final checkpoints; BH across methods, one family per score."""
    tests: dict[str, dict[str, dict[str, Any]]] = {}
    for method in methods:
        having = [run for run in series if method in run.reuse]
        scores = [score for score in SCORES if any(score in run.reuse[method] for run in having)]
        tests[method] = {score: spearman_record([run.gg[-1] for run in having],
                                                [run.reuse[method].get(score, [None])[-1] for run in having], settings)
                         for score in scores}
    for score in SCORES:
        family = [method for method in methods if score in tests[method]]
        adjusted = benjamini_hochberg([math.nan if tests[method][score]["p"] is None else tests[method][score]["p"]
                                       for method in family])
        for method, p_fdr in zip(family, adjusted):
            tests[method][score]["p_fdr"] = float(p_fdr) if math.isfinite(p_fdr) else None
    results = {}
    for method in methods:
        primary = tests[method][PRIMARY_SCORE]
        caution = f"only {primary['n']} runs (< {MIN_POINTS})" if primary["n"] < MIN_POINTS else None
        results[method] = {**primary, "caution": caution, "score": PRIMARY_SCORE,
                           "supports_reuse": SCORES[PRIMARY_SCORE][0],
                           "runs": [run.label for run in series if method in run.reuse],
                           "by_score": {score: result for score, result in tests[method].items()
                                        if score != PRIMARY_SCORE}}
    return results


def spearman_record(gg: Sequence[float | None], values: Sequence[float | None], settings: StatisticsSettings) -> dict[str, Any]:
    return spearman_test(gg, values, settings.permutations, settings.resamples, settings.confidence, settings.seed)


# ---- the whole analysis -----------------------------------------------------------------------------

def correlate(
    runs: Sequence[Path], steps: Sequence[int] | None = None, request: AnalysisRequest = AnalysisRequest(),
    eval_count: int | None = None, eval_lengths: list[int] | None = None,
    settings: StatisticsSettings = StatisticsSettings(),
) -> dict[str, Any]:
    """The ``correlation.json`` record for these runs (evaluations and analyses computed where needed)."""
    all_series = [collect_series(run, label, steps, request, eval_count, eval_lengths)
                  for run, label in zip(runs, run_labels(runs))]
    skipped = {run.label: f"baseline group {run.group.name!r} has no auxiliary task" for run in all_series
               if not run.group.aux}
    series = [run for run in all_series if run.group.aux]
    if not series:
        raise InterpError("no run has an auxiliary task, so there is no transfer to correlate with")
    methods = [method for method in METHODS if any(method in run.reuse for run in series)]
    return {
        "settings": {"methods": methods, "steps": "all" if steps is None else list(steps),
                     "count": request.count, "lengths": request.lengths, "eval_count": eval_count,
                     "eval_lengths": eval_lengths, "permutations": settings.permutations,
                     "resamples": settings.resamples, "confidence": settings.confidence, "seed": settings.seed},
        "primary_score": PRIMARY_SCORE,
        "scores": {score: {"supports_reuse": sign, "meaning": meaning} for score, (sign, meaning) in SCORES.items()},
        "runs": {run.label: run.to_dict() for run in all_series},
        "skipped": skipped,
        "within_run": {run.label: correlate_within(run, settings) for run in series},
        "across_runs": correlate_across(series, methods, settings),
    }


# ---- output -----------------------------------------------------------------------------------------

def format_rho(result: dict[str, Any]) -> str:
    """``ρ 0.80 [0.10, 1.00]`` (``ρ n/a`` when undefined)."""
    if result["rho"] is None:
        return "ρ n/a"
    lo, hi = (f"{value:.2f}" if value is not None else "?" for value in result["ci"])
    return f"ρ {result['rho']:.2f} [{lo}, {hi}]"


def format_p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def format_report(result: dict[str, Any]) -> str:
    """The tables printed by the command: within each run, across runs, and the cautions."""
    primary = result["primary_score"]
    lines = [f"score: {primary} ({SCORES[primary][1]}); reuse predicts {SCORES[primary][0]}",
             "", "within each run, across checkpoints: ρ(GG, score)",
             f"{'run':<24} {'method':<18} {'ρ [95% CI]':<24} {'p':>8} {'n':>3} {'n_eff':>6}"]
    cautions = []
    for label, methods in result["within_run"].items():
        for method, record in methods.items():
            n_eff = "n/a" if record["n_eff"] is None else f"{record['n_eff']:.1f}"
            lines.append(f"{label:<24} {method:<18} {format_rho(record):<24} {format_p(record['p']):>8} "
                         f"{record['n']:>3} {n_eff:>6}")
            if record["caution"]:
                cautions.append(f"caution: {label} / {method}: {record['caution']}")
    lines += ["", "across runs, final checkpoints: ρ(GG, score) (other scores in correlation.json)",
              f"{'method':<18} {'ρ [95% CI]':<24} {'p':>8} {'p_fdr':>8} {'n':>3}"]
    for method, record in result["across_runs"].items():
        lines.append(f"{method:<18} {format_rho(record):<24} {format_p(record['p']):>8} "
                     f"{format_p(record['p_fdr']):>8} {record['n']:>3}")
        if record["caution"]:
            cautions.append(f"caution: across runs / {method}: {record['caution']}")
    lines += [f"skipped {label}: {reason}" for label, reason in result["skipped"].items()]
    return "\n".join(lines + ([""] + cautions if cautions else []))


def group_colours(result: dict[str, Any]) -> dict[str, str]:
    names = sorted({run["group"] for run in result["runs"].values()})
    return {name: TASK_COLOURS[index % len(TASK_COLOURS)] for index, name in enumerate(names)}


def checkpoints_figure(result: dict[str, Any], method: str, score: str = PRIMARY_SCORE) -> go.Figure:
    """GG, transfer-window accuracy (left axis) and the reuse score (right axis) against the step, per run."""
    labels = [label for label, methods in result["within_run"].items() if method in methods]
    columns = min(3, len(labels))
    rows = math.ceil(len(labels) / columns)
    titles = [f"{label}: {format_rho(result['within_run'][label][method])}" for label in labels]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.12,
                           vertical_spacing=0.5 / rows, specs=[[{"secondary_y": True}] * columns] * rows)
    for index, label in enumerate(labels):
        run = result["runs"][label]
        where = {"row": index // columns + 1, "col": index % columns + 1}
        first = index == 0
        figure.add_trace(go.Scatter(x=run["steps"], y=run["gg"], name="GG", legendgroup="gg", showlegend=first,
                                    line={"color": "black"}), **where, secondary_y=False)
        figure.add_trace(go.Scatter(x=run["steps"], y=run["transfer_window_accuracy"], name="transfer-window acc.",
                                    legendgroup="window", showlegend=first, line={"color": "grey", "dash": "dot"}),
                         **where, secondary_y=False)
        figure.add_trace(go.Scatter(x=run["steps"], y=run["reuse"][method][score], name=f"{method} {score}",
                                    legendgroup="score", showlegend=first, line={"color": TASK_COLOURS[0]}),
                         **where, secondary_y=True)
        figure.update_yaxes(range=[-0.02, 1.02], **where, secondary_y=False)
    figure.update_xaxes(title_text="step")
    figure.update_layout(title=f"{method}: GG and {score} over checkpoints (reuse predicts {SCORES[score][0]})",
                         template="plotly_white", height=320 * rows + 120)
    return figure


def scatter_figure(result: dict[str, Any], method: str, score: str = PRIMARY_SCORE) -> go.Figure:
    """Reuse score vs GG at each run's final checkpoint: colour = group, marker = positional encoding."""
    record = result["across_runs"][method]
    if score != PRIMARY_SCORE:
        record = record["by_score"][score]
    colours = group_colours(result)
    figure = go.Figure()
    shown = set()
    for label in result["across_runs"][method]["runs"]:
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
        title=f"{method}: GG vs {score} across runs — {format_rho(record)}, p {format_p(record['p'])}, "
              f"p_FDR {format_p(record['p_fdr'])}, n {record['n']} (reuse predicts {SCORES[score][0]})",
        xaxis_title=f"{score} (main vs aux, final checkpoint)", yaxis_title="generalisation gap",
        yaxis={"range": [-0.02, 1.02]}, template="plotly_white")
    return figure


def write_correlation(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``correlation.json`` and ``correlation.html`` in ``out_dir``."""
    json_path, html_path = Path(out_dir) / "correlation.json", Path(out_dir) / "correlation.html"
    write_json(json_path, result)
    figures = []
    for method in result["settings"]["methods"]:
        figures += [checkpoints_figure(result, method), scatter_figure(result, method)]
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
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def analysis_request(args: argparse.Namespace, selection: RunSelection) -> AnalysisRequest:
    if args.count is not None and args.count < 1:
        raise InterpError("--count must be at least 1")
    return AnalysisRequest(tuple(args.methods) if args.methods else None, args.count, parse_lengths(args.lengths),
                           str(selection.device), not args.quiet)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.correlate",
                                     description="Correlate head reuse with length-generalisation transfer.")
    add_run_arguments(parser)
    add_analysis_arguments(parser)
    parser.add_argument("--permutations", type=int, default=10_000, help="permutations for each p-value")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for each interval")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations and resamples")
    parser.add_argument("--out", type=Path, help="where correlation.json/.html go (default: the runs' folder)")
    args = parser.parse_args(argv)
    if args.permutations < 1 or args.resamples < 1:
        raise InterpError("--permutations and --resamples must be at least 1")
    selection = parse_run_arguments(args)
    result = correlate(selection.runs, parse_steps(args.steps), analysis_request(args, selection),
                       selection.eval_count, selection.eval_lengths,
                       StatisticsSettings(args.permutations, args.resamples, seed=args.seed))
    print(format_report(result))
    json_path, html_path = write_correlation(result, args.out or common_parent(selection.runs))
    print(f"\nwrote {json_path} and {html_path}")


if __name__ == "__main__":
    main()
