"""Length generalisation: exact match per task and length, the generalisation gap, transfer (SPEC §6).

    python -m interp.evaluate --run DIR [DIR ...] [--step S | --all-steps] [--count N] [--lengths 1-40 48]

Exact match. An example is correct iff the argmax at every scored position (every target token but the
mqar keys, and ``<eos>``) equals the target. With teacher forcing this is exactly greedy-decoding exact
match — if every scored argmax is right, greedy decoding reproduces the target token by token; at the
first wrong one, both fail — so evaluation is one batched forward pass per chunk. A test proves the two
agree on a trained model (tests/test_evaluate.py). Pitfall: for mqar the keys are teacher-forced, so
greedy decoding must force them too for the equivalence to hold.

Generalisation gap (Cai et al., arXiv 2506.09251, Fig. 10): GG = mean over evaluated lengths
l ≤ max(L_main, L_aux) of |acc_aux(l) − acc_main(l)|, the aux curve being the mean over the auxiliary
tasks and L_aux the largest auxiliary training length; 0 is perfect transfer. Transfer runs both ways:
when the auxiliary is shorter than the main task, the gap is where the auxiliary fails between L_aux and
L_main (a GG taken only up to L_aux would be 0 by construction there; the paper reports 0.60 for M = 16,
X = 4). Transfer-window accuracy: the mean accuracy of the shorter-trained side (the main task when
L_aux > L_main, the aux curve otherwise) over lengths in (min(L_main, L_aux), max(L_main, L_aux)].

Pitfall: a model that has learned nothing has GG ≈ 0 too (both curves at 0). Every record therefore
carries ``learned`` — each task at or above 0.9 mean exact match over its own evaluated training lengths
(``training_accuracy``) — and transfer verdicts and correlations use learned checkpoints only. GG and the
window are None for a baseline group; ``learned`` is defined for every group. Readers recompute them from the stored accuracies (:meth:`Evaluation.from_json`), so every
record is read with these definitions. Accuracies carry Wilson 95% intervals.

Writes ``eval/step_NNNNNN.json`` and ``eval/accuracy_step_NNNNNN.html`` per run; given several runs of
one group (seeds), also one figure with every seed, the best (highest mean main-task accuracy) in bold. A saved
evaluation is replaced only by one that covers at least as much (every task and length, as many examples); a
narrower one is kept beside it as ``eval/step_NNNNNN.n2.l3.json`` (2 examples at length 3), and readers use the
fullest and name its file (:func:`save_evaluation`, :func:`fullest_evaluation`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Bool
from torch import Tensor
from tqdm.auto import tqdm
from transformer_lens import HookedTransformer

from interp.cli import add_device_argument, format_lengths, parse_lengths, pick_device
from interp.compute import evaluation_autocast
from interp.config import RunConfig, check_context
from interp.data import (
    DEFAULT_TEST_COUNT,
    DEFAULT_TEST_SEED,
    fitting_evaluation_set,
    to_batch,
)
from interp.errors import InterpError, cli_main
from interp.groups import TaskGroup
from interp.model import logits
from interp.plots import TASK_COLOURS, mark_training_lengths, write_html
from interp.run import (
    checkpoint_steps,
    evaluation_dir,
    evaluation_path,
    model_at,
    read_config,
    resolve_step,
    weights_file,
)
from interp.stats import wilson_interval
from interp.storage import check_output_file, check_writable, fullest_result, save_result
from interp.tasks import Examples, get_task

Counts = dict[str, dict[int, tuple[int, int]]]
"""task → length → (correct, total)."""
LEARNED_THRESHOLD = 0.9
"""Mean exact match over a task's own training lengths at or above which it counts as learned (SPEC §6)."""


@torch.no_grad()
def exact_match(model: HookedTransformer, examples: Examples, batch_size: int = 256) -> np.ndarray:
    """Per example, whether every scored token is the argmax of the teacher-forced logits."""
    device = next(model.parameters()).device
    correct = []
    for start in range(0, len(examples), batch_size):
        batch = to_batch(examples.take(slice(start, start + batch_size)), pad_to_bucket=False).to(device)
        with evaluation_autocast(device):
            predicted = logits(model, batch.tokens).argmax(-1)
        correct.append(scored_all_right(predicted, batch.tokens, batch.scored).cpu().numpy())
    return np.concatenate(correct)


def scored_all_right(predicted: Tensor, tokens: Tensor, scored: Tensor) -> Bool[Tensor, " batch"]:
    """Logits at p − 1 predict token p: every scored position must match."""
    return ((predicted[:, :-1] == tokens[:, 1:]) | ~scored[:, 1:]).all(dim=1)


def evaluation_lengths(group: TaskGroup, requested: Iterable[int] | None) -> dict[str, list[int]]:
    """Per task, SPEC §6's lengths, or the requested ones that the task accepts."""
    lengths = {}
    for task in group.task_names:
        definition = get_task(task)
        lengths[task] = group.eval_lengths(task) if requested is None else [
            length for length in requested if definition.accepts(length)]
    if not any(lengths.values()):
        raise InterpError(f"none of the requested lengths fits a task of group {group.name!r}")
    return lengths


def count_correct(
    model: HookedTransformer, group: TaskGroup, lengths: dict[str, list[int]], count: int,
    seed: int = DEFAULT_TEST_SEED, progress: bool = True,
) -> Counts:
    """Correct/total per task and length on the fixed test sets."""
    jobs = [(task, length) for task, task_lengths in lengths.items() for length in task_lengths]
    counts: Counts = {task: {} for task in lengths}
    for task, length in tqdm(jobs, desc="evaluating", unit="length", disable=not progress, leave=False):
        examples = fitting_evaluation_set(task, length, count, seed, model.cfg.n_ctx)
        right = exact_match(model, examples)
        counts[task][length] = (int(right.sum()), len(right))
    return counts


def aux_curve(group: TaskGroup, accuracy: dict[str, dict[int, float]]) -> dict[int, float]:
    """The auxiliary curve: per length, the mean over the auxiliary tasks evaluated there."""
    lengths = sorted({length for spec in group.aux for length in accuracy.get(spec.task, {})})
    curve = {}
    for length in lengths:
        values = [accuracy[spec.task][length] for spec in group.aux if length in accuracy.get(spec.task, {})]
        curve[length] = float(np.mean(values))
    return curve


def generalization_gap(group: TaskGroup, accuracy: dict[str, dict[int, float]]) -> float | None:
    """Mean |acc_aux(l) − acc_main(l)| over evaluated l ≤ max(L_main, L_aux) (SPEC §6): both ways, so an
    auxiliary shorter than the main task shows its own failure between L_aux and L_main."""
    if not group.aux:
        return None
    aux = aux_curve(group, accuracy)
    top = max(group.main.max_length, group.aux_length)
    gaps = [abs(aux[length] - main) for length, main in accuracy[group.main.task].items()
            if length <= top and length in aux]
    return float(np.mean(gaps)) if gaps else None


def transfer_window(group: TaskGroup) -> tuple[str, int, int] | None:
    """``(side, low, high)``: the shorter-trained side (``main`` or ``aux``) and the lengths (low, high] it
    must reach by transfer; None for a baseline or when both sides train to one length."""
    if not group.aux or group.main.max_length == group.aux_length:
        return None
    low, high = sorted((group.main.max_length, group.aux_length))
    return ("main" if group.main.max_length < group.aux_length else "aux"), low, high


def transfer_window_accuracy(group: TaskGroup, accuracy: dict[str, dict[int, float]]) -> float | None:
    """Mean accuracy of the shorter-trained side over evaluated lengths in (min(L_main, L_aux), max(…)]."""
    window = transfer_window(group)
    if window is None:
        return None
    side, low, high = window
    curve = accuracy[group.main.task] if side == "main" else aux_curve(group, accuracy)
    values = [value for length, value in curve.items() if low < length <= high]
    return float(np.mean(values)) if values else None


def main_window_accuracy(group: TaskGroup, accuracy: dict[str, dict[int, float]], low: int, high: int) -> float | None:
    """Mean accuracy of the main task over the lengths (low, high], None unless every one of them was evaluated: how a
    baseline, which has no window of its own, is measured over its related group's window (a partial window would
    hide the lengths where the related group's accuracy falls)."""
    curve = accuracy[group.main.task]
    wanted = range(low + 1, high + 1)
    if any(length not in curve for length in wanted):
        return None
    return float(np.mean([curve[length] for length in wanted]))


def training_accuracy(group: TaskGroup, accuracy: dict[str, dict[int, float]]) -> dict[str, float | None]:
    """Per task, its mean exact match over the evaluated lengths it was trained on (None if none was)."""
    means = {}
    for spec in group.specs:
        values = [value for length, value in accuracy.get(spec.task, {}).items() if length <= spec.max_length]
        means[spec.task] = float(np.mean(values)) if values else None
    return means


def is_learned(training: dict[str, float | None], threshold: float = LEARNED_THRESHOLD) -> bool | None:
    """Every task at or above ``threshold`` on its own training lengths; None when one was not evaluated there.

    An unlearned checkpoint (step 0, a run on its loss plateau) has GG ≈ 0 because both curves are ≈ 0: that
    is not transfer, so verdicts and correlations use learned checkpoints only (SPEC §6)."""
    if any(value is None for value in training.values()):
        return None
    return all(value >= threshold for value in training.values())


@dataclass(frozen=True)
class TaskAccuracy:
    """One task's exact match at each evaluated length, with its Wilson 95% interval and number of examples."""

    role: str
    """``main`` or ``aux`` in its group."""
    train_max_length: int
    accuracy: dict[int, float]
    ci: dict[int, tuple[float, float]]
    n: dict[int, int]

    @classmethod
    def counted(cls, role: str, train_max_length: int, by_length: dict[int, tuple[int, int]]) -> TaskAccuracy:
        """From (correct, total) per length."""
        return cls(role, train_max_length, {length: right / total for length, (right, total) in by_length.items()},
                   {length: tuple(map(float, wilson_interval(right, total))) for length, (right, total) in by_length.items()},
                   {length: total for length, (_, total) in by_length.items()})

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "train_max_length": self.train_max_length,
                "accuracy": {str(length): value for length, value in self.accuracy.items()},
                "ci": {str(length): list(interval) for length, interval in self.ci.items()},
                "n": {str(length): total for length, total in self.n.items()}}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> TaskAccuracy:
        return cls(str(record["role"]), int(record["train_max_length"]),
                   {int(length): float(value) for length, value in record["accuracy"].items()},
                   {int(length): (float(low), float(high)) for length, (low, high) in record["ci"].items()},
                   {int(length): int(total) for length, total in record["n"].items()})


@dataclass(frozen=True)
class EvaluationSource:
    """Which saved file an evaluation was read from, and the lengths of SPEC §6's it lacks per task (what a GG
    over fewer lengths leaves out)."""

    file: str
    lengths_missing: dict[str, str]


@dataclass(frozen=True)
class Evaluation:
    """One checkpoint's evaluation (``eval/step_NNNNNN.json``): exact match per task and length and the transfer
    metrics of SPEC §6 computed from it. Build it with :meth:`measured` so the metrics always follow the
    accuracies; read from disk it names its file (``source``)."""

    step: int
    tasks: dict[str, TaskAccuracy]
    gg: float | None
    transfer_window_accuracy: float | None
    transfer_window: tuple[str, int, int] | None
    """:func:`transfer_window`: the shorter-trained side and the lengths (low, high] it must reach."""
    learned: bool | None
    learned_threshold: float
    training_accuracy: dict[str, float | None]
    source: EvaluationSource | None = None

    @classmethod
    def measured(cls, group: TaskGroup, step: int, tasks: dict[str, TaskAccuracy],
                 threshold: float = LEARNED_THRESHOLD, source: EvaluationSource | None = None) -> Evaluation:
        """The evaluation with its GG, transfer window and its accuracy, per-task training accuracy and ``learned``
        computed from the accuracies (SPEC §6; ``threshold`` for ``learned``)."""
        accuracy = {task: entry.accuracy for task, entry in tasks.items()}
        training = training_accuracy(group, accuracy)
        return cls(step, tasks, generalization_gap(group, accuracy), transfer_window_accuracy(group, accuracy),
                   transfer_window(group), is_learned(training, threshold), threshold, training, source)

    def to_json(self) -> dict[str, Any]:
        window = self.transfer_window
        record = {"step": self.step, "gg": self.gg, "transfer_window_accuracy": self.transfer_window_accuracy,
                  "transfer_window": None if window is None else {"side": window[0], "lengths": [window[1], window[2]]},
                  "learned": self.learned, "learned_threshold": self.learned_threshold,
                  "training_accuracy": self.training_accuracy,
                  "tasks": {task: entry.to_json() for task, entry in self.tasks.items()}}
        if self.source is not None:
            record["source"] = {"file": self.source.file, "lengths_missing": self.source.lengths_missing}
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any], group: TaskGroup, threshold: float | None = None) -> Evaluation:
        """A saved record (an :func:`is_evaluation`) with its transfer metrics computed again from its accuracies:
        every reader gets SPEC §6's definitions, also from a file written before they changed; the metrics stored
        in it are not trusted. ``learned`` uses ``threshold``, by default the record's own."""
        source = record.get("source")
        if threshold is None:
            threshold = float(record.get("learned_threshold", LEARNED_THRESHOLD))
        return cls.measured(group, int(record["step"]),
                            {task: TaskAccuracy.from_json(entry) for task, entry in record["tasks"].items()}, threshold,
                            None if source is None else EvaluationSource(source["file"], source["lengths_missing"]))


def summarize(group: TaskGroup, counts: Counts, step: int) -> Evaluation:
    """The evaluation of checkpoint ``step`` from its (correct, total) counts."""
    return Evaluation.measured(group, step, {task: TaskAccuracy.counted(group.role(task), group.spec(task).max_length,
                                                                        by_length)
                                             for task, by_length in counts.items()})


def format_table(summary: Evaluation) -> str:
    """A compact table: one row per length, one column per task, accuracy in percent."""
    tasks = summary.tasks
    names = list(tasks)
    lengths = sorted({length for task in tasks.values() for length in task.accuracy})
    header = "length " + " ".join(f"{name:>11}" for name in names)
    rows = [header]
    for length in lengths:
        cells = []
        for name in names:
            value = tasks[name].accuracy.get(length)
            trained = "*" if length <= tasks[name].train_max_length else " "
            cells.append(f"{'':>11}" if value is None else f"{100 * value:>9.1f}%{trained}")
        rows.append(f"{length:>6} " + " ".join(cells))
    rows.append("(* = within the task's training lengths)")
    rows.append(f"step {summary.step}: {metrics_line(summary)}")
    return "\n".join(rows)


def metrics_line(summary: Evaluation) -> str:
    """``GG = 0.120, transfer-window accuracy = 80.0% (main, lengths 9-16), learned`` in words."""
    gg, window, learned = summary.gg, summary.transfer_window_accuracy, summary.learned
    text = f"GG = {'n/a' if gg is None else f'{gg:.3f}'}, transfer-window accuracy = "
    text += "n/a" if window is None else f"{100 * window:.1f}%"
    if summary.transfer_window:
        side, low, high = summary.transfer_window
        text += f" ({side}, lengths {low + 1}-{high})"
    if learned is None:
        text += "; learned: unknown (a task was not evaluated on its training lengths)"
    elif not learned:
        text += (f"; NOT learned (a task is below {summary.learned_threshold:.0%} on its training lengths), so GG "
                 "says nothing about transfer")
    return text


def accuracy_figure(runs: list[tuple[str, Evaluation]], group: TaskGroup) -> go.Figure:
    """Accuracy vs length for every task; several runs (seeds) drawn together, the best in bold."""
    colours = {task: TASK_COLOURS[index % len(TASK_COLOURS)] for index, task in enumerate(group.task_names)}
    best = max(range(len(runs)), key=lambda index: mean_main_accuracy(runs[index][1], group))
    figure = go.Figure()
    for index, (label, summary) in enumerate(runs):
        for task, record in summary.tasks.items():
            lengths = sorted(record.accuracy)
            accuracy = [record.accuracy[length] for length in lengths]
            name = f"{task} ({record.role})" + (f" · {label}" if len(runs) > 1 else "")
            bold = index == best
            if len(runs) == 1:  # Wilson band
                lo = [record.ci[length][0] for length in lengths]
                hi = [record.ci[length][1] for length in lengths]
                figure.add_trace(go.Scatter(x=lengths + lengths[::-1], y=hi + lo[::-1], fill="toself",
                                            fillcolor=colours[task], opacity=0.15, line={"width": 0},
                                            hoverinfo="skip", showlegend=False))
            figure.add_trace(go.Scatter(
                x=lengths, y=accuracy, mode="lines+markers", name=name, line={"color": colours[task],
                "width": 3.5 if bold else 1.2}, opacity=1.0 if bold else 0.45, marker={"size": 5 if bold else 3},
                hovertemplate=f"{name}<br>length %{{x}}: %{{y:.1%}}<extra></extra>"))
    mark_training_lengths(figure, {spec.task: spec.max_length for spec in group.specs}, colours)
    gg, learned = runs[best][1].gg, runs[best][1].learned
    title = f"{group.name}: exact match vs length (step {runs[best][1].step}"
    title += f", GG {gg:.3f}" if gg is not None else ""
    title += ", not learned)" if learned is False else ")"
    if len(runs) > 1:
        title += f" — {len(runs)} runs, best ({runs[best][0]}) in bold"
    figure.update_layout(title=title, xaxis_title="length", yaxis_title="exact match",
                         yaxis={"range": [-0.02, 1.02], "tickformat": ".0%"}, template="plotly_white")
    return figure


def mean_main_accuracy(summary: Evaluation, group: TaskGroup) -> float:
    return float(np.mean(list(summary.tasks[group.main.task].accuracy.values())))


def check_evaluation(run_dir: Path, config: RunConfig, lengths: list[int] | None) -> None:
    """What evaluating ``run_dir`` at ``lengths`` needs, checked before anything is computed: sequences that fit
    the model's context, and an ``eval/`` folder that can be written."""
    check_context(config, evaluation_lengths(config.group, lengths), advice="choose shorter --lengths")
    check_writable(evaluation_dir(run_dir))


def evaluate_run(
    run_dir: Path, steps: list[int], count: int, lengths: list[int] | None, device: torch.device, quiet: bool = False,
) -> list[Evaluation]:
    """Evaluate checkpoints of one run; save them (:func:`save_evaluation`) and return them."""
    config = read_config(run_dir)
    check_evaluation(run_dir, config, lengths)
    summaries = []
    for step in steps:
        model = model_at(run_dir, config, step, device)
        counts = count_correct(model, config.group, evaluation_lengths(config.group, lengths), count, progress=not quiet)
        summary = summarize(config.group, counts, step)
        path = save_evaluation(run_dir, step, summary)
        write_html(path.with_name(f"accuracy_{path.stem}.html"), [accuracy_figure([(run_dir.name, summary)],
                   config.group)], f"{run_dir.name}: accuracy vs length")
        if not quiet:
            kept = "" if path == evaluation_path(run_dir, step) else f" (kept beside the fuller {path.parent.name}/" \
                f"{evaluation_path(run_dir, step).name})"
            print(f"== {run_dir} ==\n{format_table(summary)}\nwritten to {path}{kept}")
        summaries.append(summary)
    return summaries


# ---- saved evaluations: when one may replace another, and which a reader uses -----------------------------


def coverage(record: dict[str, Any]) -> dict[str, dict[int, int]]:
    """What an evaluation record covers: task → length → examples."""
    return {task: {int(length): int(n) for length, n in entry["n"].items()} for task, entry in record["tasks"].items()}


def covers(record: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``record`` covers at least as much as ``other``: every task and length of ``other``, each with at
    least as many examples."""
    mine = coverage(record)
    return all(task in mine and all(mine[task].get(length, 0) >= n for length, n in by_length.items())
               for task, by_length in coverage(other).items())


def fullness(record: dict[str, Any]) -> tuple[int, int]:
    """How much an evaluation covers, to choose the fullest: (task–length cells, examples in all)."""
    cells = coverage(record)
    return sum(map(len, cells.values())), sum(n for by_length in cells.values() for n in by_length.values())


def coverage_tag(record: dict[str, Any]) -> str:
    """The name of an evaluation kept beside a fuller one: ``n2.l3`` (2 examples at length 3), ``n8.l1-6_10``."""
    cells = coverage(record)
    counts = sorted({n for by_length in cells.values() for n in by_length.values()})
    count = f"n{counts[0]}" + (f"-{counts[-1]}" if len(counts) > 1 else "")
    return f"{count}.l{format_lengths(sorted({length for by_length in cells.values() for length in by_length}))}"


def is_evaluation(record: Any) -> bool:
    """A record of :func:`summarize`'s shape (not a placeholder or another file)."""
    return isinstance(record, dict) and isinstance(record.get("tasks"), dict) and all(
        isinstance(entry, dict) and isinstance(entry.get("n"), dict) and isinstance(entry.get("accuracy"), dict)
        for entry in record["tasks"].values())


def written_after_checkpoint(path: Path, run_dir: Path, step: int) -> bool:
    """Made from the checkpoint on disk: written after its weights (a run trained again into the folder makes
    older evaluations stale)."""
    weights = weights_file(run_dir, step)
    return weights.is_file() and path.stat().st_mtime_ns >= weights.stat().st_mtime_ns


def is_current(run_dir: Path, step: int) -> Callable[[Path, Any], bool]:
    """Whether a saved record is an evaluation (:func:`is_evaluation`) of checkpoint ``step`` as it is on disk."""
    return lambda path, record: is_evaluation(record) and written_after_checkpoint(path, run_dir, step)


def save_evaluation(run_dir: Path, step: int, summary: Evaluation) -> Path:
    """Write an evaluation of checkpoint ``step`` by the rule for results on disk (:func:`interp.storage.save_result`);
    returns where it went. ``eval/step_NNNNNN.json`` is replaced only by an evaluation that :func:`covers` it (every
    task and length, with at least as many examples), or when it is stale or no evaluation; otherwise the new one is
    kept beside it as ``eval/step_NNNNNN.n2.l3.json`` (:func:`coverage_tag`), so a narrow evaluation never silently
    replaces a full one. Readers take the fullest (:func:`fullest_evaluation`)."""
    record = summary.to_json()
    return save_result(evaluation_path(run_dir, step), record, is_current(run_dir, step), covers, coverage_tag(record))


def fullest_evaluation(
    run_dir: Path, step: int, accept: Callable[[dict[str, Any]], bool] = lambda record: True,
) -> tuple[Path, dict[str, Any]] | None:
    """Of the fresh evaluations of checkpoint ``step`` (the main file and those kept beside it) that ``accept``
    takes, the fullest (:func:`fullness`), and its file."""
    return fullest_result(evaluation_path(run_dir, step), is_current(run_dir, step), fullness, accept)


def with_source(
    summary: dict[str, Any], path: Path, group: TaskGroup, threshold: float = LEARNED_THRESHOLD,
) -> Evaluation:
    """A saved record as a reader uses it: typed, its transfer metrics computed again (:meth:`Evaluation.from_json`),
    and naming its file with the lengths of SPEC §6's it lacks."""
    cells = coverage(summary)
    missing = {task: format_lengths(sorted(set(group.eval_lengths(task)) - set(cells.get(task, {}))), " ")
               for task in group.task_names}
    source = EvaluationSource(str(path), {task: text for task, text in missing.items() if text})
    return replace(Evaluation.from_json(summary, group, threshold), source=source)


def answers_request(record: dict[str, Any], group: TaskGroup, count: int | None = None,
                    lengths: list[int] | None = None) -> bool:
    """The one rule for reusing a saved evaluation (fresh for its checkpoint: :func:`fullest_evaluation`): it
    holds the group's tasks, ``count`` examples at each length and exactly the requested lengths
    (:func:`evaluation_lengths`); an unset count or lengths accepts any."""
    tasks = record["tasks"]
    if set(tasks) != set(group.task_names):
        return False
    if count is not None and any(n != count for task in tasks.values() for n in task["n"].values()):
        return False
    if lengths is not None:
        wanted = evaluation_lengths(group, lengths)
        return all(sorted(map(int, tasks[task]["accuracy"])) == wanted[task] for task in tasks)
    return True


def read_evaluation(run_dir: Path, step: int, group: TaskGroup, count: int | None = None,
                    lengths: list[int] | None = None) -> Evaluation | None:
    """The fullest saved evaluation of a checkpoint that answers the request (:func:`answers_request`), as a
    reader uses it (:func:`with_source`), or None."""
    found = fullest_evaluation(run_dir, step, lambda record: answers_request(record, group, count, lengths))
    return None if found is None else with_source(found[1], found[0], group)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", nargs="+", required=True, type=Path, help="run directories (several: seeds)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="checkpoint step (default: the last)")
    which.add_argument("--all-steps", action="store_true", help="evaluate every checkpoint")
    parser.add_argument("--count", type=int, default=DEFAULT_TEST_COUNT, help="examples per task and length")
    parser.add_argument("--lengths", nargs="+", help="lengths to evaluate, e.g. 1-40 or 8 16 32")
    add_device_argument(parser)
    parser.add_argument("--figure", type=Path, help="where the several-runs figure goes")
    args = parser.parse_args(argv)
    if args.count < 1:
        raise InterpError("--count must be at least 1")
    device = pick_device(args.device)
    lengths = parse_lengths(args.lengths)
    configs = [read_config(run) for run in args.run]
    groups = sorted({config.group.name for config in configs})
    if len(groups) > 1:
        raise InterpError(f"several runs are drawn together only for one group, got {', '.join(groups)}")
    work = []  # every run checked before the first is evaluated
    for run, config in zip(args.run, configs):
        steps = checkpoint_steps(run) if args.all_steps else [resolve_step(run, args.step)]
        if not steps:
            raise InterpError(f"run {run} has no checkpoint yet")
        check_evaluation(run, config, lengths)
        work.append((run, steps))
    figure_path = args.figure or args.run[0].resolve().parent / f"accuracy_{groups[0]}.html"
    if len(args.run) > 1:
        check_output_file(figure_path)
    finals = [(run.name, evaluate_run(run, steps, args.count, lengths, device)[-1]) for run, steps in work]
    if len(args.run) > 1:
        write_html(figure_path, [accuracy_figure(finals, configs[0].group)], f"{groups[0]}: seeds")
        print(f"figure with every run: {figure_path}")


if __name__ == "__main__":
    main()
