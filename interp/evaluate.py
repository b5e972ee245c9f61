"""Length generalisation: exact match per task and length, the generalisation gap, transfer (SPEC §6).

    python -m interp.evaluate --run DIR [DIR ...] [--step S | --all-steps] [--count N] [--lengths 1-40 48]

Exact match. An example is correct iff the argmax at every scored position (every target token but the
mqar keys, and ``<eos>``) equals the target. With teacher forcing this is exactly greedy-decoding exact
match — if every scored argmax is right, greedy decoding reproduces the target token by token; at the
first wrong one, both fail — so evaluation is one batched forward pass per chunk. A test proves the two
agree on a trained model (tests/test_evaluate.py). Pitfall: for mqar the keys are teacher-forced, so
greedy decoding must force them too for the equivalence to hold.

Generalisation gap (Cai et al., arXiv 2506.09251, Fig. 10): GG = mean over evaluated lengths l ≤ L_aux of
|acc_aux(l) − acc_main(l)|, the aux curve being the mean over the auxiliary tasks; 0 is perfect transfer.
Transfer-window accuracy: the main task's mean accuracy over lengths in (L_main, L_aux]. Both are None
for a baseline group (no auxiliary task). Accuracies carry Wilson 95% intervals.

Writes ``eval/step_NNNNNN.json`` and ``eval/accuracy_step_NNNNNN.html`` per run; given several runs of
one group (seeds), also one figure with every seed, the best (highest mean main-task accuracy) in bold.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Bool
from torch import Tensor
from tqdm.auto import tqdm
from transformer_lens import HookedTransformer

from interp.data import DEFAULT_TEST_COUNT, DEFAULT_TEST_SEED, evaluation_set, to_batch
from interp.errors import InterpError, cli_main
from interp.groups import TaskGroup
from interp.model import logits
from interp.plots import TASK_COLOURS, mark_training_lengths, write_html
from interp.run import checkpoint_steps, model_at, read_config, resolve_step
from interp.stats import wilson_interval
from interp.storage import read_json, write_json
from interp.tasks import Examples, get_task

Counts = dict[str, dict[int, tuple[int, int]]]
"""task → length → (correct, total)."""


@torch.no_grad()
def exact_match(model: HookedTransformer, examples: Examples, batch_size: int = 256) -> np.ndarray:
    """Per example, whether every scored token is the argmax of the teacher-forced logits."""
    device = next(model.parameters()).device
    correct = []
    for start in range(0, len(examples), batch_size):
        batch = to_batch(examples.take(slice(start, start + batch_size)), pad_to_bucket=False).to(device)
        with autocast(device):
            predicted = logits(model, batch.tokens).argmax(-1)
        correct.append(scored_all_right(predicted, batch.tokens, batch.scored).cpu().numpy())
    return np.concatenate(correct)


def scored_all_right(predicted: Tensor, tokens: Tensor, scored: Tensor) -> Bool[Tensor, " batch"]:
    """Logits at p − 1 predict token p: every scored position must match."""
    return ((predicted[:, :-1] == tokens[:, 1:]) | ~scored[:, 1:]).all(dim=1)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (as the GPU trains); none on the CPU, even where training autocasts to bf16 (AMX,
    ``interp.train.computed_precision``): there evaluation reads the fp32 weights exactly."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def evaluation_lengths(group: TaskGroup, requested: Iterable[int] | None) -> dict[str, list[int]]:
    """Per task, SPEC §6's lengths, or the requested ones that the task accepts."""
    lengths = {}
    for task in group.task_names:
        definition = get_task(task)
        lengths[task] = group.eval_lengths(task) if requested is None else [
            length for length in requested if definition.min_length <= length <= (definition.max_length or length)
        ]
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
        examples = evaluation_set(task, length, count, seed)
        if examples.end.max() > model.cfg.n_ctx:
            raise InterpError(f"{task} at length {length} needs {examples.end.max()} tokens but the model's "
                              f"context is {model.cfg.n_ctx}")
        right = exact_match(model, examples)
        counts[task][length] = (int(right.sum()), len(right))
    return counts


def generalization_gap(group: TaskGroup, accuracy: dict[str, dict[int, float]]) -> float | None:
    """Mean |acc_aux(l) − acc_main(l)| over evaluated l ≤ L_aux (aux = mean of the auxiliaries)."""
    if not group.aux:
        return None
    gaps = []
    for length, main in accuracy[group.main.task].items():
        aux = [accuracy[spec.task][length] for spec in group.aux if length in accuracy[spec.task]]
        if length <= group.aux_length and aux:
            gaps.append(abs(float(np.mean(aux)) - main))
    return float(np.mean(gaps)) if gaps else None


def transfer_window_accuracy(group: TaskGroup, accuracy: dict[str, dict[int, float]]) -> float | None:
    """Mean main-task accuracy over evaluated lengths in (L_main, L_aux]."""
    window = [acc for length, acc in accuracy[group.main.task].items()
              if group.main.max_length < length <= group.aux_length]
    return float(np.mean(window)) if group.aux and window else None


def summarize(group: TaskGroup, counts: Counts, step: int) -> dict[str, Any]:
    """The ``eval/step_NNNNNN.json`` record."""
    accuracy = {task: {length: right / total for length, (right, total) in by_length.items()}
                for task, by_length in counts.items()}
    tasks = {}
    for task, by_length in counts.items():
        intervals = {str(length): list(wilson_interval(right, total)) for length, (right, total) in by_length.items()}
        tasks[task] = {
            "role": group.role(task),
            "train_max_length": group.spec(task).max_length,
            "accuracy": {str(length): value for length, value in accuracy[task].items()},
            "ci": intervals,
            "n": {str(length): total for length, (_, total) in by_length.items()},
        }
    return {
        "step": step,
        "gg": generalization_gap(group, accuracy),
        "transfer_window_accuracy": transfer_window_accuracy(group, accuracy),
        "tasks": tasks,
    }


def format_table(summary: dict[str, Any]) -> str:
    """A compact table: one row per length, one column per task, accuracy in percent."""
    tasks = summary["tasks"]
    names = list(tasks)
    lengths = sorted({int(length) for task in tasks.values() for length in task["accuracy"]})
    header = "length " + " ".join(f"{name:>11}" for name in names)
    rows = [header]
    for length in lengths:
        cells = []
        for name in names:
            value = tasks[name]["accuracy"].get(str(length))
            trained = "*" if length <= tasks[name]["train_max_length"] else " "
            cells.append(f"{'':>11}" if value is None else f"{100 * value:>9.1f}%{trained}")
        rows.append(f"{length:>6} " + " ".join(cells))
    rows.append("(* = within the task's training lengths)")
    gg, window = summary["gg"], summary["transfer_window_accuracy"]
    rows.append(f"step {summary['step']}: GG = {'n/a' if gg is None else f'{gg:.3f}'}, transfer-window accuracy = "
                f"{'n/a' if window is None else f'{100 * window:.1f}%'}")
    return "\n".join(rows)


def accuracy_figure(runs: list[tuple[str, dict[str, Any]]], group: TaskGroup) -> go.Figure:
    """Accuracy vs length for every task; several runs (seeds) drawn together, the best in bold."""
    colours = {task: TASK_COLOURS[index % len(TASK_COLOURS)] for index, task in enumerate(group.task_names)}
    best = max(range(len(runs)), key=lambda index: mean_main_accuracy(runs[index][1], group))
    figure = go.Figure()
    for index, (label, summary) in enumerate(runs):
        for task, record in summary["tasks"].items():
            lengths = sorted(int(length) for length in record["accuracy"])
            accuracy = [record["accuracy"][str(length)] for length in lengths]
            name = f"{task} ({record['role']})" + (f" · {label}" if len(runs) > 1 else "")
            bold = index == best
            if len(runs) == 1:  # Wilson band
                lo = [record["ci"][str(length)][0] for length in lengths]
                hi = [record["ci"][str(length)][1] for length in lengths]
                figure.add_trace(go.Scatter(x=lengths + lengths[::-1], y=hi + lo[::-1], fill="toself",
                                            fillcolor=colours[task], opacity=0.15, line={"width": 0},
                                            hoverinfo="skip", showlegend=False))
            figure.add_trace(go.Scatter(
                x=lengths, y=accuracy, mode="lines+markers", name=name, line={"color": colours[task],
                "width": 3.5 if bold else 1.2}, opacity=1.0 if bold else 0.45, marker={"size": 5 if bold else 3},
                hovertemplate=f"{name}<br>length %{{x}}: %{{y:.1%}}<extra></extra>"))
    mark_training_lengths(figure, {spec.task: spec.max_length for spec in group.specs}, colours)
    gg = runs[best][1]["gg"]
    title = f"{group.name}: exact match vs length (step {runs[best][1]['step']}"
    title += f", GG {gg:.3f})" if gg is not None else ")"
    if len(runs) > 1:
        title += f" — {len(runs)} runs, best ({runs[best][0]}) in bold"
    figure.update_layout(title=title, xaxis_title="length", yaxis_title="exact match",
                         yaxis={"range": [-0.02, 1.02], "tickformat": ".0%"}, template="plotly_white")
    return figure


def mean_main_accuracy(summary: dict[str, Any], group: TaskGroup) -> float:
    return float(np.mean(list(summary["tasks"][group.main.task]["accuracy"].values())))


def parse_lengths(items: list[str] | None) -> list[int] | None:
    """``["1-8", "12"]`` → [1, …, 8, 12]."""
    if not items:
        return None
    lengths: set[int] = set()
    for item in items:
        try:
            low, _, high = item.partition("-")
            lengths.update(range(int(low), int(high or low) + 1))
        except ValueError:
            raise InterpError(f"--lengths takes numbers and ranges like 1-40, got {item!r}") from None
    if min(lengths) < 1:
        raise InterpError("--lengths must be at least 1")
    return sorted(lengths)


def evaluate_run(
    run_dir: Path, steps: list[int], count: int, lengths: list[int] | None, device: torch.device, quiet: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate checkpoints of one run; write and return their summaries."""
    config = read_config(run_dir)
    summaries = []
    for step in steps:
        model = model_at(run_dir, config, step, device)
        counts = count_correct(model, config.group, evaluation_lengths(config.group, lengths), count, progress=not quiet)
        summary = summarize(config.group, counts, step)
        write_json(run_dir / "eval" / f"step_{step:06d}.json", summary)
        write_html(run_dir / "eval" / f"accuracy_step_{step:06d}.html", [accuracy_figure([(run_dir.name, summary)],
                   config.group)], f"{run_dir.name}: accuracy vs length")
        if not quiet:
            print(f"== {run_dir} ==\n{format_table(summary)}")
        summaries.append(summary)
    return summaries


def read_evaluation(run_dir: Path, step: int) -> dict[str, Any] | None:
    path = Path(run_dir) / "eval" / f"step_{step:06d}.json"
    return read_json(path) if path.is_file() else None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InterpError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", nargs="+", required=True, type=Path, help="run directories (several: seeds)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="checkpoint step (default: the last)")
    which.add_argument("--all-steps", action="store_true", help="evaluate every checkpoint")
    parser.add_argument("--count", type=int, default=DEFAULT_TEST_COUNT, help="examples per task and length")
    parser.add_argument("--lengths", nargs="+", help="lengths to evaluate, e.g. 1-40 or 8 16 32")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--figure", type=Path, help="where the several-runs figure goes")
    args = parser.parse_args(argv)
    if args.count < 1:
        raise InterpError("--count must be at least 1")
    device = pick_device(args.device)
    lengths = parse_lengths(args.lengths)
    configs = [read_config(run) for run in args.run]
    finals = []
    for run in args.run:
        steps = checkpoint_steps(run) if args.all_steps else [resolve_step(run, args.step)]
        if not steps:
            raise InterpError(f"run {run} has no checkpoint yet")
        finals.append((run.name, evaluate_run(run, steps, args.count, lengths, device)[-1]))
    if len(args.run) > 1:
        groups = {config.group.name for config in configs}
        if len(groups) > 1:
            raise InterpError(f"several runs are drawn together only for one group, got {', '.join(sorted(groups))}")
        figure_path = args.figure or args.run[0].resolve().parent / f"accuracy_{configs[0].group.name}.html"
        write_html(figure_path, [accuracy_figure(finals, configs[0].group)], f"{configs[0].group.name}: seeds")
        print(f"figure with every run: {figure_path}")


if __name__ == "__main__":
    main()
