"""Which heads each task uses, by three independent methods, and how much two tasks reuse them (SPEC §7).

    python -m interp.head_overlap --run runs/add_mul [--step S] [--methods ablation,patching,attention]
        [--tasks add,mul] [--count N] [--lengths 4 8 12-16] [--protocol competent|paper] [--competence 0.9]
        [--control RUN] [--device auto|cpu|cuda] [--quiet]

For one checkpoint of a run, per task of its group and per analysed length, on ``count`` fixed test
examples (:func:`interp.data.evaluation_set`):

- ablation (:mod:`interp.ablation`): ``ablation_mean`` / ``ablation_zero`` / ``ablation_resample`` maps are
  the drop in exact-match accuracy (clean − ablated, positive = the head matters); the drop in mean answer
  log-prob sits beside them (``"logprob_maps"``);
- activation patching (:mod:`interp.patching`): ``patching`` is the normalised recovery of the clean
  answer's log-prob when one head's clean output is patched into a corrupted run (0 = corrupted,
  1 = clean; NaN where clean and corrupted score alike, with a note); ``attribution`` is its one-pass
  linear estimate, with its agreement with exact patching (``"attribution_agreement"``, Spearman ρ);
- attention (:mod:`interp.attention`): ``attention`` is the paper's metric, per pair and head Σ|Ā_A − Ā_B|
  between the two tasks' mean attention patterns, on their shared layout or their common part, or a
  layout-free Jensen–Shannon distance labelled as such where they have none (the form is named per pair);
  ``attention_focus`` (a diagnostic) maps each head's focus, 1 − normalised entropy of the
  answer-predicting queries' attention, in [0, 1].

Which lengths (SPEC §7.1, :class:`interp.reuse.Protocol`). An accuracy-drop map is ≈ 0 wherever its task
fails, so maps averaged over lengths where one task fails differ because of the failure, not the heads.
The default ``competent`` protocol compares a pair on the lengths both were trained on where both have
clean exact match ≥ ``--competence`` (0.9), and a task's own map on its competent training lengths; a pair
with no such length gets null scores and a reason. ``--protocol paper`` averages over the lengths the
generalisation gap averages and every output made with it says it is confounded with accuracy. Default
lengths: up to 8 for the whole group, most of them within the shortest training length, so every pair has
lengths in common (``--lengths`` chooses them).

Every pair of tasks gets reuse scores from every map (:mod:`interp.reuse`): mean |A − B| (the paper's),
Spearman ρ, top-k Jaccard of the heads with a positive effect beside its random-null expectation, each with
a bootstrap interval over examples, all on the pair's lengths. ``--control RUN`` reads the saved analysis of
a run of the group's control (same main task, an unrelated auxiliary; analysed with the same protocol), so
the reports set each pair's overlap beside its control pair's, not only beside random sets. The record is
written first, then the reports (each file atomically)::

    analysis/head_overlap.json          the record below (the step analysed last)
    analysis/steps/step_NNNNNN.json     the same record, one per analysed step (read across checkpoints)
    analysis/report.html                interactive heatmaps, difference maps, attention patterns, reuse table
    analysis/ablation_report.md         per task the heads that matter most; reuse in plain words

One family alone: ``python -m interp.ablation`` (or ``.patching``, ``.attention``) ``--run DIR`` takes the
same options but ``--methods`` and writes the same files to ``analysis/FAMILY/``, leaving the full analysis
as it is. ``python -m interp.report --run DIR [--family F]`` redraws a saved analysis's two reports and
``python -m interp.reuse --run DIR [--family F]`` prints its reuse table, neither measuring it again.

Record (:class:`interp.reuse.record.HeadReuseRecord`; as JSON): ``{"step", "n_layers", "n_heads", "group", "tasks", "settings": {"methods", "count", "lengths",
"seed", "checkpoint": {"step", "bytes", "mtime_ns"}, "protocol", "competence", "top_k", ...},
"task_lengths": {TASK: {"lengths", "reason"}}, "pair_lengths": {"A|B": {"lengths", "reason"}},
"maps": {METHOD: {TASK: [[float] * n_heads] * n_layers or null}}, "maps_by_length": {METHOD: {TASK: {"LEN":
map}}}, "intervals": {METHOD: {TASK: {"lo", "hi"}}}, "logprob_maps", "reuse": {METHOD: {"A|B":
{"mean_abs_diff", "spearman", "jaccard_top_k", "k", "top_k_sizes", "jaccard_null", "*_ci", "difference_map",
"reason"}}, "attention": {"A|B": {"difference", "per_head", "form", "lengths", "note", "reason"}}},
"attribution_agreement", "clean_accuracy", "control", "notes"}``; NaN and undefined scores are null.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformer_lens import HookedTransformer

from interp.ablation import AblationKind, AblationResult, ablate_heads
from interp.attention import AttentionStats, attention_difference, attention_stats
from interp.cli import add_device_argument, parse_lengths, pick_device
from interp.data import DEFAULT_TEST_SEED, fitting_evaluation_set
from interp.errors import InterpError, cli_main
from interp.evaluate import evaluation_lengths, exact_match
from interp.groups import TaskGroup
from interp.methods import FAMILIES, Method, parse_methods
from interp.patching import MIN_LOGPROB_GAP, PatchingResult, corrupted_examples, patch_heads
from interp.report import ablation_markdown, report_html, summary_table
from interp.reuse import (
    DEFAULT_COMPETENCE,
    DEFAULT_RESAMPLES,
    PAPER_CAUTION,
    MapEstimator,
    Protocol,
    TaskCompetence,
    compared_lengths,
    default_k,
    head_intervals,
    mean_over_lengths,
    resampled_maps,
    reuse_with_intervals,
)
from interp.reuse.record import (
    ControlPairs,
    HeadReuseRecord,
    LengthChoice,
    pair_key,
    read_head_reuse,
)
from interp.run import (
    analysis_dir,
    checkpoint_fingerprint,
    model_at,
    read_config,
    resolve_step,
    step_record_path,
    weights_file,
)
from interp.stats import spearman
from interp.storage import check_writable, fullest_result, read_json, save_result, write_text
from interp.tasks import Examples, check_compatible
from interp.vocab import Tokenizer

DEFAULT_COUNT = 128
"""Test examples per task and length (modest, for the CPU)."""
MAX_DEFAULT_LENGTHS = 8
ANALYSIS_SEED = DEFAULT_TEST_SEED
RECORD_FILE = "head_overlap.json"


ABLATION_KINDS = {Method.ABLATION_MEAN: AblationKind.MEAN, Method.ABLATION_ZERO: AblationKind.ZERO,
                  Method.ABLATION_RESAMPLE: AblationKind.RESAMPLE}


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
    available = list(available)
    required = sorted(set(required) & set(available))[:limit]
    rest = [length for length in available if length not in required]
    slots = min(limit - len(required), len(rest))
    picks = np.unique(np.round(np.linspace(0, len(rest) - 1, slots)).astype(int)) if slots > 0 else []
    return sorted(required + [rest[index] for index in picks])


def default_lengths(group: TaskGroup, protocol: Protocol) -> list[int]:
    """Up to 8 lengths for the whole group, so that every pair has lengths in common.

    ``paper``: spread over 1 … the longest training length, every training length included. ``competent``:
    most of them up to the shortest training length (where every pair can be compared), the rest between it
    and the longest (pairs of longer-trained tasks), every training length included."""
    maxes = sorted({spec.max_length for spec in group.specs})
    if protocol is Protocol.PAPER or len(maxes) == 1:
        return spread_lengths(range(1, maxes[-1] + 1), maxes)
    inside = spread_lengths(range(1, maxes[0] + 1), maxes[:1], MAX_DEFAULT_LENGTHS - 2)
    return inside + spread_lengths(range(maxes[0] + 1, maxes[-1] + 1), maxes[1:], 2)


def analysis_lengths(
    group: TaskGroup, tasks: Sequence[str], lengths: Sequence[int] | None, protocol: Protocol = Protocol.COMPETENT,
) -> dict[str, list[int]]:
    """Per task, the requested lengths it accepts, or the group's :func:`default_lengths` that it accepts and
    that its protocol can use (``competent``: none beyond the task's own training length)."""
    if lengths is not None and not lengths:
        raise InterpError("--lengths is empty")
    accepted = evaluation_lengths(group, lengths)
    candidates = default_lengths(group, protocol)
    chosen = {}
    for task in tasks:
        if not accepted.get(task):
            raise InterpError(f"none of the lengths {list(lengths or [])} fits task {task!r} "
                              f"(its evaluation lengths: {group.eval_lengths(task)[0]}-{group.eval_lengths(task)[-1]})")
        top = group.spec(task).max_length if protocol is Protocol.COMPETENT else candidates[-1]
        chosen[task] = accepted[task] if lengths is not None else [
            length for length in candidates if length in accepted[task] and length <= top]
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
            sets[(task, length)] = fitting_evaluation_set(task, length, count, seed, model.cfg.n_ctx,
                                                          "; choose shorter --lengths")
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
    if Method.ATTENTION in methods or Method.ATTENTION_FOCUS in methods:
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
    if method is Method.ATTENTION_FOCUS:
        return {length: (lambda rows, stats=stats: stats.focus[..., rows].mean(-1))
                for length, stats in measured.attention.items()}
    raise ValueError(f"{method.value} gives no per-task map")


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


@dataclass(frozen=True)
class Comparison:
    """How maps are compared: the protocol, its competence threshold, top-k size, resamples and their seed."""

    protocol: Protocol
    threshold: float
    k: int
    count: int
    seed: int


def length_choices(
    measurements: dict[str, TaskMeasurements], group: TaskGroup, comparison: Comparison,
) -> tuple[dict[str, LengthChoice], dict[str, LengthChoice]]:
    """Per task (its own map) and per pair (their scores), the lengths the protocol allows (SPEC §7.1)."""
    competence = {task: TaskCompetence(group.spec(task).max_length, measured.clean_accuracy)
                  for task, measured in measurements.items()}

    def choose(a: str, b: str) -> LengthChoice:
        return LengthChoice(*compared_lengths(comparison.protocol, competence[a], competence[b], comparison.threshold))

    tasks = list(measurements)
    return ({task: choose(task, task) for task in tasks},
            {pair_key(a, b): choose(a, b) for a, b in itertools.combinations(tasks, 2)})


NULL_SCORES = {"mean_abs_diff": None, "spearman": None, "jaccard_top_k": None, "mean_abs_diff_ci": [None, None],
               "spearman_ci": [None, None], "jaccard_top_k_ci": [None, None], "jaccard_null": None}
"""A pair's reuse scores where it has no length to compare on (a ``reason`` says why)."""


def map_method_record(
    method: Method, measurements: dict[str, TaskMeasurements], tasks_choice: dict[str, LengthChoice],
    pairs_choice: dict[str, LengthChoice], comparison: Comparison,
) -> dict[str, Any]:
    """One map method: per-length maps, each task's map over its lengths with intervals, and every pair's scores
    over the pair's lengths (the maps of both tasks averaged over exactly those lengths)."""
    full, samples = {}, {}
    for task, measured in measurements.items():
        estimators = length_estimators(method, measured)
        full[task] = {length: estimate(slice(None)) for length, estimate in estimators.items()}
        samples[task] = {length: resampled_maps(estimate, comparison.count, DEFAULT_RESAMPLES, comparison.seed)
                         for length, estimate in estimators.items()}
    maps, intervals, reuse = {}, {}, {}
    for task, choice in tasks_choice.items():
        maps[task] = mean_over_lengths([full[task][n] for n in choice.lengths]) if choice.lengths else None
        if choice.lengths:
            lo, hi = head_intervals(mean_over_lengths([samples[task][n] for n in choice.lengths]))
            intervals[task] = {"lo": lo, "hi": hi}
    for key, choice in pairs_choice.items():
        a, b = key.split("|")
        if not choice.lengths:
            reuse[key] = {**NULL_SCORES, "k": comparison.k, "reason": choice.reason}
            continue
        map_a, map_b = (mean_over_lengths([full[task][n] for n in choice.lengths]) for task in (a, b))
        samples_a, samples_b = (mean_over_lengths([samples[task][n] for n in choice.lengths]) for task in (a, b))
        reuse[key] = {**reuse_with_intervals(map_a, map_b, samples_a, samples_b, comparison.k),
                      "difference_map": map_a - map_b, "reason": None}
    return {"maps": maps, "maps_by_length": full, "intervals": intervals, "reuse": reuse}


def attention_record(
    measurements: dict[str, TaskMeasurements], pairs_choice: dict[str, LengthChoice],
) -> dict[str, dict[str, Any]]:
    """The paper's attention difference of every pair over the pair's lengths, with the form it could use."""
    pairs = {}
    for key, choice in pairs_choice.items():
        a, b = key.split("|")
        if not choice.lengths:
            pairs[key] = {"difference": None, "per_head": None, "form": None, "lengths": [], "note": None,
                          "reason": choice.reason}
            continue
        result = attention_difference(measurements[a].attention, measurements[b].attention, choice.lengths, (a, b))
        pairs[key] = {**result.to_record(), "difference": float(np.nanmean(result.per_head)), "reason": None}
    return pairs


def build_record(
    measurements: dict[str, TaskMeasurements], methods: Sequence[Method], group: TaskGroup, comparison: Comparison,
) -> dict[str, Any]:
    """Maps, intervals and reuse scores from the measurements (everything but the run's identity)."""
    tasks = list(measurements)
    tasks_choice, pairs_choice = length_choices(measurements, group, comparison)
    record: dict[str, Any] = {
        "task_lengths": {task: choice.to_json() for task, choice in tasks_choice.items()},
        "pair_lengths": {key: choice.to_json() for key, choice in pairs_choice.items()},
        "maps": {}, "maps_by_length": {}, "intervals": {}, "logprob_maps": {}, "reuse": {},
    }
    for method in methods:
        if method is Method.ATTENTION:
            record["reuse"][method.value] = attention_record(measurements, pairs_choice)
            continue
        part = map_method_record(method, measurements, tasks_choice, pairs_choice, comparison)
        for name in ("maps", "maps_by_length", "intervals", "reuse"):
            record[name][method.value] = part[name]
        if method in ABLATION_KINDS:
            kind = ABLATION_KINDS[method]
            record["logprob_maps"][method.value] = {
                task: np.mean([measurements[task].ablation[n][kind].logprob_drop() for n in choice.lengths], 0)
                if choice.lengths else None for task, choice in tasks_choice.items()}
    if Method.PATCHING in methods and Method.ATTRIBUTION in methods:
        record["attribution_agreement"] = {task: agreement(record, task) for task in tasks}
    record["clean_accuracy"] = {task: dict(sorted(measurements[task].clean_accuracy.items())) for task in tasks}
    record["notes"] = record_notes(measurements, methods, pairs_choice, comparison)
    return record


def record_notes(
    measurements: dict[str, TaskMeasurements], methods: Sequence[Method], pairs_choice: dict[str, LengthChoice],
    comparison: Comparison,
) -> list[str]:
    """What a reader must know: the protocol's caution, pairs without scores, lengths where patching is undefined."""
    notes = [PAPER_CAUTION] if comparison.protocol is Protocol.PAPER else []
    notes += [f"{key}: no scores ({choice.reason})" for key, choice in pairs_choice.items() if not choice.lengths]
    if Method.PATCHING in methods or Method.ATTRIBUTION in methods:
        for task, measured in measurements.items():
            for length, result in measured.patching.items():
                if abs(result.gap()) < MIN_LOGPROB_GAP:
                    notes.append(f"patching: {task} at length {length}: clean and corrupted inputs give the clean "
                                 f"answer the same log-prob (gap {result.gap():.4f} nats), so recovery is undefined "
                                 "there and left out")
    if not pairs_choice:
        notes.append("the analysed group has a single task: there is no pair to score reuse for")
    return notes


def agreement(record: dict[str, Any], task: str) -> dict[str, Any]:
    """Spearman ρ between attribution and exact patching over heads, overall and per length."""
    def rho(a: np.ndarray | None, b: np.ndarray | None) -> float:
        if a is None or b is None:
            return float("nan")
        a, b = np.ravel(a), np.ravel(b)
        keep = np.isfinite(a) & np.isfinite(b)
        return spearman(a[keep], b[keep]) if keep.sum() > 1 else float("nan")

    exact, estimate = record["maps_by_length"]["patching"][task], record["maps_by_length"]["attribution"][task]
    return {"spearman": rho(record["maps"]["attribution"][task], record["maps"]["patching"][task]),
            "by_length": {length: rho(estimate[length], exact[length]) for length in exact}}


def pattern_length(group: TaskGroup, task: str, lengths: Sequence[int]) -> int:
    """The length whose attention patterns the report shows: the task's training max, or the nearest."""
    target = group.spec(task).max_length
    return min(lengths, key=lambda length: (abs(length - target), length))


def analyze(
    run_dir: Path, step: int | None = None, methods: Sequence[str] | None = None, count: int = DEFAULT_COUNT,
    lengths: Sequence[int] | None = None, device: str | torch.device = "cpu", progress: bool = True,
    tasks: Sequence[str] | None = None, into: Path | None = None, protocol: Protocol | str = Protocol.COMPETENT,
    threshold: float = DEFAULT_COMPETENCE, control: Path | None = None, reports: bool = True,
) -> HeadReuseRecord:
    """Measure, score and write everything for one checkpoint into ``into`` (default: the run's
    ``analysis/``); returns the record. ``control``: a run of the group's control whose saved analysis
    holds the control pairs the reports compare with. ``reports=False`` writes the per-step record only
    (``steps/step_NNNNNN.json``; what ``interp.correlate`` caches), leaving the folder's analysis and reports."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    tokenizer = check_compatible(config.vocab)
    chosen_step = resolve_step(run_dir, step)
    chosen_methods = parse_methods(methods)
    chosen_tasks = resolve_tasks(config.group, tasks)
    protocol = parse_protocol(protocol)
    if count < 2:
        raise InterpError(f"--count must be at least 2 (resampling needs a donor), got {count}")
    if not 0 <= threshold <= 1:
        raise InterpError(f"--competence is a fraction in [0, 1], got {threshold}")
    control_record = control_pairs(control, config.group, protocol) if control is not None else None
    task_lengths = analysis_lengths(config.group, chosen_tasks, lengths, protocol)
    check_writable(analysis_dir(run_dir, protocol=protocol.value) if into is None else into)
    checkpoint = checkpoint_fingerprint(run_dir, chosen_step)
    model = model_at(run_dir, config, chosen_step, pick_device(str(device)))

    sets = analysis_sets(model, task_lengths, count, ANALYSIS_SEED)
    measurements = {task: TaskMeasurements() for task in chosen_tasks}
    for (task, _), examples in tqdm(sets.items(), desc="head reuse", unit="length", disable=not progress, leave=False):
        measure(model, task, examples, chosen_methods, ANALYSIS_SEED, measurements[task])

    comparison = Comparison(protocol, threshold, default_k(model.cfg.n_layers, model.cfg.n_heads), count, ANALYSIS_SEED)
    record = HeadReuseRecord.from_json(jsonable({
        "step": chosen_step, "n_layers": model.cfg.n_layers, "n_heads": model.cfg.n_heads,
        "group": config.group.name, "main_task": config.group.main.task, "tasks": chosen_tasks,
        "settings": {"methods": [method.value for method in chosen_methods], "count": count,
                     "lengths": task_lengths, "seed": ANALYSIS_SEED, "checkpoint": checkpoint,
                     "protocol": protocol.value, "competence": threshold, "top_k": comparison.k,
                     "bootstrap_resamples": DEFAULT_RESAMPLES},
        **build_record(measurements, chosen_methods, config.group, comparison),
        "control": None if control_record is None else control_record.to_json(),
    }))
    into = analysis_dir(run_dir, protocol=protocol.value) if into is None else into
    # the records first, so a report that fails to draw never costs the measurement
    save_analysis(step_record_path(into, chosen_step), record, run_dir)
    if not reports:
        return record
    main = save_analysis(into / RECORD_FILE, record, run_dir)
    patterns = {}
    for task in chosen_tasks:
        if measurements[task].attention:
            length = pattern_length(config.group, task, sorted(measurements[task].attention))
            patterns[task] = (length, measurements[task].attention[length])
    write_reports(into, run_dir, record, patterns, tokenizer, beside_tag(main))
    return record


def save_analysis(path: Path, record: HeadReuseRecord, run_dir: Path) -> Path:
    """Write an analysis record by the rule for results on disk (:func:`interp.storage.save_result`): a saved
    analysis of the same checkpoint is replaced only by one that covers it, else the new one is kept beside it
    (``NAME.TAG.json``); an analysis of another checkpoint, or of a checkpoint since rewritten, is replaced."""
    def current(_: Path, saved: Any) -> bool:
        found = read_head_reuse(saved)
        return found is not None and found.step == record.step and found.settings.made_from_checkpoint_on_disk(run_dir)

    def covers(_: Any, saved: Any) -> bool:
        return record.settings.covers(HeadReuseRecord.from_json(saved).settings)

    return save_result(path, record.to_json(), current, covers, record.settings.tag())


def fullest_analysis(
    path: Path, run_dir: Path, accept: Callable[[HeadReuseRecord], bool] = lambda record: True,
) -> tuple[Path, HeadReuseRecord] | None:
    """Of the analyses at ``path`` and kept beside it that are of this version, made from the checkpoint on
    disk and taken by ``accept``, the fullest (:meth:`AnalysisSettings.fullness`), and its file."""
    def current(_: Path, saved: Any) -> bool:
        found = read_head_reuse(saved)
        return found is not None and found.settings.made_from_checkpoint_on_disk(run_dir)

    found = fullest_result(path, current, lambda saved: HeadReuseRecord.from_json(saved).settings.fullness(),
                           lambda saved: accept(HeadReuseRecord.from_json(saved)))
    return None if found is None else (found[0], HeadReuseRecord.from_json(found[1], str(found[0])))


def beside_tag(path: Path) -> str | None:
    """The tag of a record kept beside the main one (``head_overlap.TAG.json``), None for the main one."""
    return path.name[len(Path(RECORD_FILE).stem) + 1: -len(".json")] if path.name != RECORD_FILE else None


def write_reports(into: Path, run_dir: Path, record: HeadReuseRecord, patterns: dict[str, tuple[int, AttentionStats]],
                  tokenizer: Tokenizer, tag: str | None = None) -> None:
    """The interactive report (HTML) and the ablation report (Markdown) of a record, into ``into``; a record kept
    beside the main one (``tag``) gets reports under its own name, ``report.TAG.html``."""
    title = f"{run_dir.name}: head reuse at step {record.step}"
    html, markdown = report_html(record, patterns, tokenizer, title), ablation_markdown(record, title)
    suffix = f".{tag}" if tag else ""
    write_text(into / f"report{suffix}.html", html)
    write_text(into / f"ablation_report{suffix}.md", markdown)


def parse_protocol(protocol: Protocol | str) -> Protocol:
    try:
        return Protocol(protocol)
    except ValueError:
        raise InterpError(f"unknown protocol {protocol!r} (accepted: "
                          f"{', '.join(item.value for item in Protocol)})") from None


def control_pairs(control: Path, group: TaskGroup, protocol: Protocol) -> ControlPairs:
    """From a control run's saved analysis, the scores of its pairs that share this group's main task."""
    record = saved_record(control)
    if record.settings.protocol is not protocol:
        raise InterpError(f"the control analysis in {control} used the {record.settings.protocol.value} protocol, "
                          f"this one the {protocol.value}; analyse both alike")
    main = group.main.task
    reuse = {method: {key: scores for key, scores in pairs.items() if main in key.split("|")}
             for method, pairs in record.reuse.items()}
    if not any(reuse.values()):
        raise InterpError(f"the analysis in {control} has no pair with {main!r}, this group's main task, so it "
                          "holds no control pair for it")
    return ControlPairs(str(control), record.group, record.step, reuse)


def saved_record(run_dir: Path, family: str | None = None, protocol: Protocol | str = Protocol.COMPETENT) -> HeadReuseRecord:
    """The analysis record saved in ``analysis_dir(run_dir, family, protocol)``."""
    run_dir, protocol = Path(run_dir), parse_protocol(protocol)
    read_config(run_dir)  # a clear error where DIR is no run
    path = analysis_dir(run_dir, family, protocol.value) / RECORD_FILE
    if not path.is_file():
        option = "" if protocol is Protocol.COMPETENT else " --protocol paper"
        raise InterpError(f"{run_dir} has no saved analysis ({path} is missing); run python -m "
                          f"interp.{family or 'head_overlap'} --run {run_dir}{option} first")
    record = read_head_reuse(read_json(path))
    if record is None:
        raise InterpError(f"{path} is not a head-reuse record of this version (written before protocols, or by "
                          f"something else); run python -m interp.{family or 'head_overlap'} --run {run_dir} again")
    return record


def redraw_reports(run_dir: Path, family: str | None = None, device: str | torch.device = "cpu",
                   protocol: Protocol | str = Protocol.COMPETENT) -> Path:
    """Write ``report.html`` and ``ablation_report.md`` again from a saved analysis, without measuring it again:
    the record holds every map and score; only the attention patterns the report draws are not kept, and
    are measured again on the same examples of the same checkpoint (refused if the checkpoint changed)."""
    run_dir = Path(run_dir)
    record = saved_record(run_dir, family, protocol)
    config = read_config(run_dir)
    tokenizer = check_compatible(config.vocab)
    settings = record.settings
    if not settings.made_from_checkpoint_on_disk(run_dir):
        raise InterpError(f"checkpoint {weights_file(run_dir, resolve_step(run_dir, record.step))} changed "
                          f"since it was analysed; run the analysis again")
    patterns = {}
    if {Method.ATTENTION.value, Method.ATTENTION_FOCUS.value} & set(settings.methods):
        model = model_at(run_dir, config, record.step, pick_device(str(device)))
        for task in record.tasks:
            length = pattern_length(config.group, task, settings.lengths[task])
            examples = analysis_sets(model, {task: [length]}, settings.count, settings.seed)[task, length]
            patterns[task] = (length, attention_stats(model, examples))
    into = analysis_dir(run_dir, family, parse_protocol(protocol).value)
    write_reports(into, run_dir, record, patterns, tokenizer)
    return into


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """``--protocol`` and ``--competence``: which lengths a pair is compared on (SPEC §7.1)."""
    parser.add_argument("--protocol", choices=[protocol.value for protocol in Protocol],
                        default=Protocol.COMPETENT.value,
                        help="competent (default): compare a pair where both tasks were trained and are competent; "
                             "paper: over the lengths GG averages (confounded with accuracy)")
    parser.add_argument("--competence", type=float, default=DEFAULT_COMPETENCE,
                        help=f"clean exact match both tasks need at a length (competent protocol; default "
                             f"{DEFAULT_COMPETENCE})")


def saved_analysis_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The command line of a command that reads a saved analysis (``interp.report``, ``interp.reuse``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--run", required=True, type=Path, help="run directory")
    parser.add_argument("--family", choices=list(FAMILIES),
                        help="the analysis of one method family (analysis/FAMILY/) instead of the full one")
    parser.add_argument("--protocol", choices=[protocol.value for protocol in Protocol],
                        default=Protocol.COMPETENT.value,
                        help="the analysis made with this protocol (paper: analysis/paper/)")
    return parser


@cli_main
def report_main(argv: list[str] | None = None) -> None:
    """``python -m interp.report``: redraw a saved analysis's reports without measuring it again."""
    parser = saved_analysis_parser("python -m interp.report", "Redraw a saved head-reuse analysis's report.html "
                                   "and ablation_report.md without measuring it again.")
    add_device_argument(parser, help="where the attention patterns the report draws are measured again")
    args = parser.parse_args(argv)
    into = redraw_reports(args.run, args.family, args.device, args.protocol)
    print(f"wrote {into}/report.html, ablation_report.md")


@cli_main
def reuse_main(argv: list[str] | None = None) -> None:
    """``python -m interp.reuse``: print a saved analysis's reuse table."""
    parser = saved_analysis_parser("python -m interp.reuse", "Print the reuse scores of a saved head-reuse analysis "
                                   "(python -m interp.head_overlap measures them).")
    args = parser.parse_args(argv)
    print(summary_table(saved_record(args.run, args.family, args.protocol)))


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
    parser.add_argument("--lengths", nargs="+", help="lengths, e.g. 4 8 12-16 (default: up to 8 for the group)")
    add_protocol_arguments(parser)
    parser.add_argument("--control", type=Path,
                        help="a run of the group's control (e.g. add_copyfirst for add_carry), analysed alike: the "
                             "reports compare each pair with its control pair")
    add_device_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary")
    args = parser.parse_args(argv)
    into = analysis_dir(args.run, family, parse_protocol(args.protocol).value)
    record = analyze(
        args.run, step=args.step, methods=[family] if family else args.methods.split(","), count=args.count,
        lengths=parse_lengths(args.lengths), device=args.device, progress=not args.quiet,
        tasks=None if args.tasks is None else [task.strip() for task in args.tasks.split(",")], into=into,
        protocol=args.protocol, threshold=args.competence, control=args.control,
    )
    if not args.quiet:
        print(summary_table(record))
        print(f"wrote {into}/{RECORD_FILE}, report.html, ablation_report.md")


if __name__ == "__main__":
    main()
