"""Which heads each task uses, by three independent methods, and how much two tasks reuse them (SPEC §7).

    python -m interp.head_overlap --run runs/add_mul [--step S] [--methods ablation,patching,attention]
        [--tasks add,mul] [--count N] [--lengths 4 8 12-16] [--device auto|cpu|cuda] [--quiet]

For one checkpoint of a run, per task of its group and per analysed length, on ``count`` fixed test
examples (:func:`interp.data.evaluation_set`):

- ablation (:mod:`interp.ablation`): ``ablation_mean`` / ``ablation_zero`` / ``ablation_resample`` maps are
  the drop in exact-match accuracy (clean − ablated, positive = the head matters) averaged over the
  analysed lengths; the drop in mean answer log-prob sits beside them (``"logprob_maps"``);
- activation patching (:mod:`interp.patching`): ``patching`` is the normalised recovery of the clean
  answer's log-prob when one head's clean output is patched into a corrupted run (0 = corrupted,
  1 = clean; NaN where clean and corrupted score alike, with a note); ``attribution`` is its one-pass
  linear estimate, with its agreement with exact patching (``"attribution_agreement"``, Spearman ρ);
- attention (:mod:`interp.attention`): ``attention`` maps each head's *focus* (1 − normalised entropy of
  the answer-predicting queries' attention, in [0, 1]); per pair, the paper's Σ|Ā_A − Ā_B| per head where
  the two tasks share a layout and the layout-free Jensen–Shannon distance between attention-by-offset
  profiles (``"attention_pairs"``).

Every pair of tasks gets reuse scores from every map (:mod:`interp.reuse`): mean |A − B| (the paper's),
Spearman ρ, top-k Jaccard beside its random-null expectation, each with a bootstrap interval over
examples. Writes, only once everything is computed (each file atomically)::

    analysis/head_overlap.json          the record below (the step analysed last)
    analysis/steps/step_NNNNNN.json     the same record, one per analysed step (read across checkpoints)
    analysis/report.html                interactive heatmaps, difference maps, attention patterns, reuse table
    analysis/ablation_report.md         per task the heads that matter most; reuse in plain words

One family alone: ``python -m interp.ablation`` (or ``.patching``, ``.attention``) ``--run DIR`` takes the
same options but ``--methods`` and writes the same files to ``analysis/FAMILY/``, leaving the full analysis
as it is. ``python -m interp.report --run DIR [--family F]`` redraws a saved analysis's two reports and
``python -m interp.reuse --run DIR [--family F]`` prints its reuse table, neither measuring it again.

Record: ``{"step", "n_layers", "n_heads", "group", "tasks", "settings": {"methods", "count", "lengths",
"seed", "checkpoint": {"step", "bytes", "mtime_ns"}}, "maps": {METHOD: {TASK: [[float] * n_heads] *
n_layers}}, "maps_by_length": {METHOD: {TASK: {"LEN": map}}}, "intervals": {METHOD: {TASK: {"lo", "hi"}}},
"logprob_maps", "reuse": {METHOD: {"A|B": {"mean_abs_diff", "spearman", "jaccard_top_k", "k",
"jaccard_null", "*_ci", ...}}}, "attention_pairs", "attribution_agreement", "clean_accuracy", "notes"}``;
NaN is written as null.
"""

from __future__ import annotations

import argparse
import enum
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformer_lens import HookedTransformer

from interp.ablation import AblationKind, AblationResult, ablate_heads
from interp.attention import (
    AttentionStats,
    attention_stats,
    offset_distance,
    pattern_difference,
    shares_layout,
)
from interp.data import DEFAULT_TEST_SEED, evaluation_set
from interp.errors import InterpError, cli_main
from interp.evaluate import evaluation_lengths, exact_match, parse_lengths, pick_device
from interp.groups import TaskGroup
from interp.patching import MIN_LOGPROB_GAP, PatchingResult, corrupted_examples, patch_heads
from interp.report import ablation_markdown, report_html, summary_table
from interp.reuse import (
    DEFAULT_RESAMPLES,
    MapEstimator,
    default_k,
    head_intervals,
    resampled_maps,
    reuse_with_intervals,
)
from interp.run import checkpoint_stem, model_at, read_config, resolve_step
from interp.stats import spearman
from interp.storage import read_json, write_json, write_text
from interp.tasks import Examples
from interp.vocab import Tokenizer, check_compatible

DEFAULT_COUNT = 128
"""Test examples per task and length (modest, for the CPU)."""
MAX_DEFAULT_LENGTHS = 8
ANALYSIS_SEED = DEFAULT_TEST_SEED
RECORD_FILE = "head_overlap.json"


class Method(enum.Enum):
    """A way to measure which heads a task uses (one layer × head map per task)."""

    ABLATION_MEAN = "ablation_mean"
    """Accuracy drop when the head's output is replaced by its per-position mean (the paper's map)."""
    ABLATION_ZERO = "ablation_zero"
    """Accuracy drop when the head's output is zeroed."""
    ABLATION_RESAMPLE = "ablation_resample"
    """Accuracy drop when the head's output comes from another example of the same length."""
    PATCHING = "patching"
    """Normalised recovery of the clean answer's log-prob when the head's clean output is patched in."""
    ATTRIBUTION = "attribution"
    """Attribution patching: the first-order estimate of ``patching`` from one forward and one backward."""
    ATTENTION = "attention"
    """Attention focus: 1 − normalised entropy of the answer-predicting queries' attention."""


FAMILIES: dict[str, tuple[Method, ...]] = {
    "ablation": (Method.ABLATION_MEAN, Method.ABLATION_ZERO, Method.ABLATION_RESAMPLE),
    "patching": (Method.PATCHING, Method.ATTRIBUTION),
    "attention": (Method.ATTENTION,),
}
ABLATION_KINDS = {Method.ABLATION_MEAN: AblationKind.MEAN, Method.ABLATION_ZERO: AblationKind.ZERO,
                  Method.ABLATION_RESAMPLE: AblationKind.RESAMPLE}


def parse_methods(methods: Sequence[str] | None) -> list[Method]:
    """Family names (ablation, patching, attention) and method names → methods in canonical order."""
    if methods is None:
        return list(Method)
    chosen: set[Method] = set()
    accepted = [*FAMILIES, *(method.value for method in Method)]
    for name in methods:
        name = name.strip()
        if name in FAMILIES:
            chosen.update(FAMILIES[name])
        elif name in {method.value for method in Method}:
            chosen.add(Method(name))
        else:
            raise InterpError(f"unknown method {name!r} (accepted: {', '.join(accepted)})")
    if not chosen:
        raise InterpError(f"no method chosen (accepted: {', '.join(accepted)})")
    return [method for method in Method if method in chosen]


def resolve_tasks(group: TaskGroup, tasks: Sequence[str] | None) -> list[str]:
    if tasks is None:
        return list(group.task_names)
    for task in tasks:
        if task not in group.task_names:
            raise InterpError(f"task {task!r} is not in the run's group {group.name!r} "
                              f"(its tasks: {', '.join(group.task_names)})")
    return [task for task in group.task_names if task in tasks]


def spread_lengths(available: Sequence[int], required: Sequence[int], limit: int = MAX_DEFAULT_LENGTHS) -> list[int]:
    """Up to ``limit`` lengths from ``available``: every ``required`` one, the rest evenly spread."""
    required = sorted(set(required) & set(available))[:limit]
    rest = [length for length in available if length not in required]
    slots = min(limit - len(required), len(rest))
    picks = np.unique(np.round(np.linspace(0, len(rest) - 1, slots)).astype(int)) if slots > 0 else []
    return sorted(required + [rest[index] for index in picks])


def analysis_lengths(group: TaskGroup, tasks: Sequence[str], lengths: Sequence[int] | None) -> dict[str, list[int]]:
    """Per task, the requested lengths it accepts, or up to 8 spread over its evaluation range including
    every training max length of the group."""
    if lengths is not None and not lengths:
        raise InterpError("--lengths is empty")
    accepted = evaluation_lengths(group, lengths)
    chosen = {}
    for task in tasks:
        if not accepted.get(task):
            raise InterpError(f"none of the lengths {list(lengths or [])} fits task {task!r} "
                              f"(its evaluation lengths: {group.eval_lengths(task)[0]}-{group.eval_lengths(task)[-1]})")
        chosen[task] = accepted[task] if lengths is not None else spread_lengths(
            accepted[task], [spec.max_length for spec in group.specs])
    return chosen


@dataclass
class TaskMeasurements:
    """Everything measured for one task, per length."""

    clean_accuracy: dict[int, float] = field(default_factory=dict)
    ablation: dict[int, dict[AblationKind, AblationResult]] = field(default_factory=dict)
    patching: dict[int, PatchingResult] = field(default_factory=dict)
    attention: dict[int, AttentionStats] = field(default_factory=dict)


def analysis_sets(
    model: HookedTransformer, task_lengths: dict[str, list[int]], count: int, seed: int,
) -> dict[tuple[str, int], Examples]:
    """The fixed test examples of every (task, length), checked against the model's context up front."""
    sets = {}
    for task, lengths in task_lengths.items():
        for length in lengths:
            examples = evaluation_set(task, length, count, seed)
            if examples.end.max() > model.cfg.n_ctx:
                raise InterpError(f"{task} at length {length} needs {examples.end.max()} tokens but the model's "
                                  f"context is {model.cfg.n_ctx}; choose shorter --lengths")
            sets[(task, length)] = examples
    return sets


def measure(
    model: HookedTransformer, task: str, examples: Examples, methods: Sequence[Method], seed: int, into: TaskMeasurements,
) -> None:
    """Run the chosen methods on test examples of ``task`` at one length."""
    length = int(examples.length[0])
    into.clean_accuracy[length] = float(exact_match(model, examples).mean())
    kinds = [ABLATION_KINDS[method] for method in methods if method in ABLATION_KINDS]
    if kinds:
        into.ablation[length] = ablate_heads(model, examples, kinds, seed=seed)
    exact, attribution = Method.PATCHING in methods, Method.ATTRIBUTION in methods
    if exact or attribution:
        corrupted = corrupted_examples(examples, task, seed)
        into.patching[length] = patch_heads(model, examples, corrupted, exact=exact, attribution=attribution)
    if Method.ATTENTION in methods:
        into.attention[length] = attention_stats(model, examples)


def length_estimators(method: Method, measured: TaskMeasurements) -> dict[int, MapEstimator]:
    """Per length, the function from example indices to this method's map."""
    if method in ABLATION_KINDS:
        kind = ABLATION_KINDS[method]
        return {length: results[kind].accuracy_drop for length, results in measured.ablation.items()}
    if method is Method.PATCHING:
        return {length: result.recovery for length, result in measured.patching.items()}
    if method is Method.ATTRIBUTION:
        return {length: result.attribution_recovery for length, result in measured.patching.items()}
    return {length: (lambda rows, stats=stats: stats.focus[..., rows].mean(-1))
            for length, stats in measured.attention.items()}


def over_lengths(estimators: dict[int, MapEstimator]) -> MapEstimator:
    """The mean over lengths of the per-length maps (NaN lengths left out)."""
    def estimate(rows: np.ndarray | slice) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.stack([estimator(rows) for estimator in estimators.values()]), axis=0)
    return estimate


def jsonable(value: Any) -> Any:
    """Numpy → lists and floats, NaN → None (strict JSON)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(item) for item in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def pair_key(a: str, b: str) -> str:
    return f"{a}|{b}"


def build_record(
    measurements: dict[str, TaskMeasurements], methods: Sequence[Method], n_layers: int, n_heads: int, count: int,
    seed: int,
) -> dict[str, Any]:
    """Maps, intervals and reuse scores from the measurements (everything but the run's identity)."""
    tasks = list(measurements)
    pairs = list(itertools.combinations(tasks, 2))
    k = default_k(n_layers, n_heads)
    record: dict[str, Any] = {"maps": {}, "maps_by_length": {}, "intervals": {}, "logprob_maps": {}, "reuse": {}}
    notes: list[str] = []
    for method in methods:
        maps, by_length, intervals, samples = {}, {}, {}, {}
        for task in tasks:
            per_length = length_estimators(method, measurements[task])
            estimator = over_lengths(per_length)
            maps[task] = estimator(slice(None))
            by_length[task] = {length: estimate(slice(None)) for length, estimate in per_length.items()}
            samples[task] = resampled_maps(estimator, count, DEFAULT_RESAMPLES, seed)
            lo, hi = head_intervals(samples[task])
            intervals[task] = {"lo": lo, "hi": hi}
        record["maps"][method.value] = maps
        record["maps_by_length"][method.value] = by_length
        record["intervals"][method.value] = intervals
        record["reuse"][method.value] = {
            pair_key(a, b): reuse_with_intervals(maps[a], maps[b], samples[a], samples[b], k) for a, b in pairs
        }
        if method in ABLATION_KINDS:
            kind = ABLATION_KINDS[method]
            record["logprob_maps"][method.value] = {
                task: np.mean([results[kind].logprob_drop() for results in measurements[task].ablation.values()], 0)
                for task in tasks}
    if Method.PATCHING in methods or Method.ATTRIBUTION in methods:
        for task in tasks:
            for length, result in measurements[task].patching.items():
                if abs(result.gap()) < MIN_LOGPROB_GAP:
                    notes.append(f"patching: {task} at length {length}: clean and corrupted inputs give the clean "
                                 f"answer the same log-prob (gap {result.gap():.4f} nats), so recovery is undefined "
                                 "there and left out")
    if Method.PATCHING in methods and Method.ATTRIBUTION in methods:
        record["attribution_agreement"] = {task: agreement(record, task) for task in tasks}
    if Method.ATTENTION in methods:
        record["attention_pairs"] = {pair_key(a, b): attention_pair(measurements[a], measurements[b]) for a, b in pairs}
        for a, b in pairs:
            pair = record["attention_pairs"][pair_key(a, b)]
            scores = record["reuse"][Method.ATTENTION.value][pair_key(a, b)]
            scores["offset_js_mean"] = float(np.mean(pair["offset_js"]))
            scores["pattern_l1_mean"] = None if pair["pattern_l1"] is None else float(np.mean(pair["pattern_l1"]))
    if not pairs:
        notes.append("the analysed group has a single task: there is no pair to score reuse for")
    record["clean_accuracy"] = {task: clean_accuracy(measurements[task]) for task in tasks}
    record["notes"] = notes
    return record


def agreement(record: dict[str, Any], task: str) -> dict[str, Any]:
    """Spearman ρ between attribution and exact patching over heads, overall and per length."""
    def rho(a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.ravel(a), np.ravel(b)
        keep = np.isfinite(a) & np.isfinite(b)
        return spearman(a[keep], b[keep]) if keep.sum() > 1 else float("nan")

    exact, estimate = record["maps_by_length"]["patching"][task], record["maps_by_length"]["attribution"][task]
    return {"spearman": rho(record["maps"]["attribution"][task], record["maps"]["patching"][task]),
            "by_length": {length: rho(estimate[length], exact[length]) for length in exact}}


def attention_pair(a: TaskMeasurements, b: TaskMeasurements) -> dict[str, Any]:
    """The paper's Σ|Ā_A − Ā_B| over the lengths where the layouts match, and the offset JS distance."""
    shared = [length for length in sorted(set(a.attention) & set(b.attention))
              if shares_layout(a.attention[length], b.attention[length])]
    l1 = np.mean([pattern_difference(a.attention[n], b.attention[n]) for n in shared], axis=0) if shared else None
    js = offset_distance({n: s.offset_profile for n, s in a.attention.items()},
                         {n: s.offset_profile for n, s in b.attention.items()})
    return {"pattern_l1": l1, "pattern_l1_lengths": shared, "offset_js": js}


def clean_accuracy(measured: TaskMeasurements) -> dict[int, float]:
    return dict(sorted(measured.clean_accuracy.items()))


def pattern_length(group: TaskGroup, task: str, lengths: Sequence[int]) -> int:
    """The length whose attention patterns the report shows: the task's training max, or the nearest."""
    target = group.spec(task).max_length
    return min(lengths, key=lambda length: (abs(length - target), length))


def analyze(
    run_dir: Path, step: int | None = None, methods: Sequence[str] | None = None, count: int = DEFAULT_COUNT,
    lengths: Sequence[int] | None = None, device: str | torch.device = "cpu", progress: bool = True,
    tasks: Sequence[str] | None = None, into: Path | None = None,
) -> dict[str, Any]:
    """Measure, score and write everything for one checkpoint into ``into`` (default: the run's
    ``analysis/``); returns the JSON record."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    tokenizer = check_compatible(config.vocab)
    chosen_step = resolve_step(run_dir, step)
    chosen_methods = parse_methods(methods)
    chosen_tasks = resolve_tasks(config.group, tasks)
    if count < 2:
        raise InterpError(f"--count must be at least 2 (resampling needs a donor), got {count}")
    task_lengths = analysis_lengths(config.group, chosen_tasks, lengths)
    weights = checkpoint_stem(run_dir, chosen_step).with_suffix(".safetensors")
    checkpoint = {"step": chosen_step, "bytes": weights.stat().st_size, "mtime_ns": weights.stat().st_mtime_ns}
    model = model_at(run_dir, config, chosen_step, pick_device(str(device)))

    sets = analysis_sets(model, task_lengths, count, ANALYSIS_SEED)
    measurements = {task: TaskMeasurements() for task in chosen_tasks}
    for (task, _), examples in tqdm(sets.items(), desc="head reuse", unit="length", disable=not progress, leave=False):
        measure(model, task, examples, chosen_methods, ANALYSIS_SEED, measurements[task])

    scores = build_record(measurements, chosen_methods, model.cfg.n_layers, model.cfg.n_heads, count, ANALYSIS_SEED)
    record = jsonable({
        "step": chosen_step, "n_layers": model.cfg.n_layers, "n_heads": model.cfg.n_heads,
        "group": config.group.name, "tasks": chosen_tasks,
        "settings": {"methods": [method.value for method in chosen_methods], "count": count,
                     "lengths": task_lengths, "seed": ANALYSIS_SEED, "checkpoint": checkpoint,
                     "top_k": default_k(model.cfg.n_layers, model.cfg.n_heads),
                     "bootstrap_resamples": DEFAULT_RESAMPLES},
        **scores,
    })
    patterns = {}
    for task in chosen_tasks:
        if measurements[task].attention:
            length = pattern_length(config.group, task, sorted(measurements[task].attention))
            patterns[task] = (length, measurements[task].attention[length])
    into = analysis_dir(run_dir) if into is None else into
    html, markdown = reports(run_dir, record, patterns, tokenizer)
    write_json(into / "steps" / f"step_{chosen_step:06d}.json", record)
    write_json(into / RECORD_FILE, record)
    write_text(into / "report.html", html)
    write_text(into / "ablation_report.md", markdown)
    return record


def reports(run_dir: Path, record: dict[str, Any], patterns: dict[str, tuple[int, AttentionStats]],
            tokenizer: Tokenizer) -> tuple[str, str]:
    """The interactive report (HTML) and the ablation report (Markdown) of a record."""
    title = f"{run_dir.name}: head reuse at step {record['step']}"
    return report_html(record, patterns, tokenizer, title), ablation_markdown(record, title)


def analysis_dir(run_dir: Path, family: str | None = None) -> Path:
    """Where an analysis lives: ``analysis/`` for the full one (``python -m interp.head_overlap``),
    ``analysis/FAMILY/`` for one family's (``python -m interp.ablation``, ``.patching``, ``.attention``), so
    that running one family never overwrites the full analysis."""
    return Path(run_dir) / "analysis" / (family or "")


def saved_record(run_dir: Path, family: str | None = None) -> dict[str, Any]:
    """The analysis record saved in ``analysis_dir(run_dir, family)``."""
    run_dir = Path(run_dir)
    read_config(run_dir)  # a clear error where DIR is no run
    path = analysis_dir(run_dir, family) / RECORD_FILE
    if not path.is_file():
        raise InterpError(f"{run_dir} has no saved analysis ({path} is missing); run python -m "
                          f"interp.{family or 'head_overlap'} --run {run_dir} first")
    return read_json(path)


def redraw_reports(run_dir: Path, family: str | None = None, device: str | torch.device = "cpu") -> Path:
    """Write ``report.html`` and ``ablation_report.md`` again from a saved analysis, without measuring it again:
    the record holds every map and score; only the attention patterns the report draws are not kept, and
    are measured again on the same examples of the same checkpoint (refused if the checkpoint changed)."""
    run_dir = Path(run_dir)
    record = saved_record(run_dir, family)
    config = read_config(run_dir)
    tokenizer = check_compatible(config.vocab)
    settings = record["settings"]
    weights = checkpoint_stem(run_dir, resolve_step(run_dir, record["step"])).with_suffix(".safetensors")
    if [weights.stat().st_size, weights.stat().st_mtime_ns] != [settings["checkpoint"]["bytes"],
                                                               settings["checkpoint"]["mtime_ns"]]:
        raise InterpError(f"checkpoint {weights} changed since it was analysed; run the analysis again")
    patterns = {}
    if Method.ATTENTION.value in settings["methods"]:
        model = model_at(run_dir, config, record["step"], pick_device(str(device)))
        for task in record["tasks"]:
            length = pattern_length(config.group, task, settings["lengths"][task])
            examples = analysis_sets(model, {task: [length]}, settings["count"], settings["seed"])[task, length]
            patterns[task] = (length, attention_stats(model, examples))
    into = analysis_dir(run_dir, family)
    html, markdown = reports(run_dir, record, patterns, tokenizer)
    write_text(into / "report.html", html)
    write_text(into / "ablation_report.md", markdown)
    return into


def saved_analysis_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The command line of a command that reads a saved analysis (``interp.report``, ``interp.reuse``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--run", required=True, type=Path, help="run directory")
    parser.add_argument("--family", choices=list(FAMILIES),
                        help="the analysis of one method family (analysis/FAMILY/) instead of the full one")
    return parser


@cli_main
def main(argv: list[str] | None = None, family: str | None = None) -> None:
    """``python -m interp.head_overlap``, or with ``family`` ``python -m interp.FAMILY``: that family's methods
    alone, written to ``analysis/FAMILY/``."""
    command = f"interp.{family or 'head_overlap'}"
    description = (__doc__.split("\n\n")[0] if family is None else
                   f"Which heads each task uses by {family} alone, and their reuse (interp.head_overlap's {family} "
                   f"methods: {', '.join(method.value for method in FAMILIES[family])}), written to analysis/{family}/.")
    parser = argparse.ArgumentParser(prog=f"python -m {command}", description=description)
    parser.add_argument("--run", required=True, type=Path, help="run directory")
    parser.add_argument("--step", type=int, help="checkpoint step (default: the last)")
    if family is None:
        parser.add_argument("--methods", default="ablation,patching,attention",
                            help="comma-separated: ablation, patching, attention (families) or "
                                 + ", ".join(method.value for method in Method))
    parser.add_argument("--tasks", help="comma-separated subset of the group's tasks (default: all)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="test examples per task and length")
    parser.add_argument("--lengths", nargs="+", help="lengths, e.g. 4 8 12-16 (default: up to 8 per task)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary")
    args = parser.parse_args(argv)
    into = analysis_dir(args.run, family)
    record = analyze(
        args.run, step=args.step, methods=[family] if family else args.methods.split(","), count=args.count,
        lengths=parse_lengths(args.lengths), device=args.device, progress=not args.quiet,
        tasks=None if args.tasks is None else [task.strip() for task in args.tasks.split(",")], into=into,
    )
    if not args.quiet:
        print(summary_table(record))
        print(f"wrote {into}/{RECORD_FILE}, report.html, ablation_report.md")


if __name__ == "__main__":
    main()
