"""Seeds are the unit of replication: every group's result summarised over its runs.

    python -m interp.seeds --runs DIR [DIR ...] [--eval-count N] [--eval-lengths 1-40] [--learned-threshold 0.9]
                           [--json FILE]

Length-generalisation transfer is seed-unstable (Cai et al., "Extrapolation by Association: Length
Generalization Transfer in Transformers", arXiv 2506.09251: some seeds transfer, some do not), so one run
says little and a group's result is a distribution over seeds. Runs are grouped by group name and
positional encoding (RoPE and NoPE runs of one group are different experiments); for each group this
reports, at every run's final checkpoint, the mean generalisation gap (GG) and the mean transfer-window
accuracy over the seeds that learned their training lengths (``learned``, SPEC §6: a run that learned
nothing has GG ≈ 0 without any transfer, so it is left out and listed), each with a percentile bootstrap
interval over seeds, and the best seed. Each run's evaluation is its fullest saved one
(:func:`interp.evaluate.fullest_evaluation`); one made at fewer lengths than SPEC §6's is named with its file and
the lengths it lacks, since its GG covers only the others. The best seed is the one with the highest mean main-task accuracy over the evaluated lengths, the same rule that
draws it in bold in ``interp.evaluate``'s figures.

Pitfalls: with 3–5 seeds the bootstrap interval of a mean is rough (it cannot be wider than the range of
the seeds); read it as "how far apart the seeds are", not as a calibrated 95% interval. GG and the
transfer window are None for a baseline group (no auxiliary task).

The module also holds what every cross-run command shares: expanding ``--runs`` arguments (a run
directory, or a folder whose sub-folders are runs), short labels for runs, and evaluations per checkpoint
reused from ``RUN/eval/`` when they are fresh, computed with ``interp.evaluate`` when they are not.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from interp.config import RunConfig
from interp.data import DEFAULT_TEST_COUNT
from interp.errors import InterpError, cli_main
from interp.evaluate import (
    LEARNED_THRESHOLD,
    evaluate_run,
    evaluation_lengths,
    fullest_evaluation,
    mean_main_accuracy,
    parse_lengths,
    pick_device,
    with_source,
)
from interp.groups import TaskGroup
from interp.run import CONFIG_FILE, checkpoint_stem, read_config, resolve_step
from interp.stats import bootstrap_mean, finite, none_if_nan
from interp.storage import check_output_file, check_writable, write_json

SUMMARY_RESAMPLES = 2000


def expand_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories from ``--runs`` arguments: a run itself, or a folder whose direct sub-folders are runs."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if (path / CONFIG_FILE).is_file():
            found = [path]
        elif path.is_dir():
            found = sorted(child for child in path.iterdir() if (child / CONFIG_FILE).is_file())
            if not found:
                raise InterpError(f"{path} is neither a run directory nor a folder of run directories")
        elif path.exists():
            raise InterpError(f"{path} is a file, not a run directory")
        else:
            raise InterpError(f"run directory {path} does not exist")
        runs.extend(run for run in found if run.resolve() not in {known.resolve() for known in runs})
    if not runs:
        raise InterpError("no run directories given")
    return runs


def common_parent(runs: Sequence[Path]) -> Path:
    """The deepest folder holding every run (where cross-run outputs go by default)."""
    return Path(os.path.commonpath([run.resolve().parent for run in runs]))


def run_labels(runs: Sequence[Path]) -> list[str]:
    """Short unique names: each run's path relative to the folder holding them all."""
    parent = common_parent(runs)
    return [run.resolve().relative_to(parent).as_posix() for run in runs]


def checkpoint_file(run_dir: Path, step: int) -> Path:
    return checkpoint_stem(run_dir, step).with_suffix(".safetensors")


def evaluation_is_fresh(record: dict[str, Any], group: TaskGroup, count: int | None, lengths: list[int] | None) -> bool:
    """A saved evaluation (fresh for its checkpoint: :func:`interp.evaluate.saved_evaluations`) that answers the
    request: the group's tasks, with the requested count and lengths (unset ones accept any)."""
    tasks = record["tasks"]
    if set(tasks) != set(group.task_names):
        return False
    if count is not None and any(n != count for task in tasks.values() for n in task["n"].values()):
        return False
    if lengths is not None:
        wanted = evaluation_lengths(group, lengths)
        return all(sorted(map(int, tasks[task]["accuracy"])) == wanted[task] for task in tasks)
    return True


def evaluations(
    run_dir: Path, steps: Sequence[int], count: int | None = None, lengths: list[int] | None = None,
    device: torch.device | str = "cpu", config: RunConfig | None = None, threshold: float = LEARNED_THRESHOLD,
) -> dict[int, dict[str, Any]]:
    """``interp.evaluate`` summaries of the given checkpoints: of the fresh ones in ``eval/`` that answer the request
    the fullest (:func:`interp.evaluate.fullest_evaluation`), the rest computed; their transfer metrics computed from
    the accuracies with ``threshold`` for ``learned``, and each says which file it is (``source``)."""
    config = config or read_config(run_dir)

    def answers(record: dict[str, Any]) -> bool:
        return evaluation_is_fresh(record, config.group, count, lengths)

    missing = [step for step in steps if fullest_evaluation(run_dir, step, answers) is None]
    if missing:
        evaluate_run(Path(run_dir), missing, count or DEFAULT_TEST_COUNT, lengths, torch.device(device), quiet=True)
    found = {step: fullest_evaluation(run_dir, step, answers) for step in steps}
    return {step: with_source(record, path, config.group, threshold) for step, (path, record) in found.items()}


@dataclass(frozen=True)
class RunResult:
    """One run at one checkpoint with its evaluation."""

    path: Path
    label: str
    config: RunConfig
    step: int
    evaluation: dict[str, Any]

    @property
    def group(self) -> TaskGroup:
        return self.config.group

    @property
    def positional(self) -> str:
        return self.config.model.positional

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def model(self) -> str:
        """The size preset (or ``NAME@REVISION`` of a finetuned model): runs of different models never pool."""
        return self.config.model_preset

    @property
    def gg(self) -> float | None:
        return self.evaluation["gg"]

    @property
    def transfer_window_accuracy(self) -> float | None:
        return self.evaluation["transfer_window_accuracy"]

    @property
    def learned(self) -> bool | None:
        return self.evaluation["learned"]

    @property
    def main_accuracy(self) -> float:
        return mean_main_accuracy(self.evaluation, self.group)


def final_results(
    runs: Sequence[Path], count: int | None = None, lengths: list[int] | None = None,
    device: torch.device | str = "cpu", threshold: float = LEARNED_THRESHOLD,
) -> list[RunResult]:
    """Every run at its last checkpoint, evaluated (reusing fresh evaluations)."""
    results = []
    for run, label in zip(runs, run_labels(runs)):
        config = read_config(run)
        step = resolve_step(run, None)
        evaluation = evaluations(run, [step], count, lengths, device, config, threshold)[step]
        results.append(RunResult(run, label, config, step, evaluation))
    return results


def by_group(results: Iterable[RunResult]) -> dict[tuple[str, str, str], list[RunResult]]:
    """Runs grouped by (group name, positional encoding, model), sorted by name (RoPE first), each by seed.

    Only seeds of one condition pool: a finetuned or a larger model's runs of a group are a condition
    of their own.
    """
    groups: dict[tuple[str, str, str], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.group.name, result.positional, result.model), []).append(result)
    return {key: sorted(groups[key], key=lambda result: (result.seed, result.label))
            for key in sorted(groups, key=lambda key: (key[0], key[1] != "rope", key[1], key[2]))}


def over_seeds(values: Sequence[float | None], seed: int = 0) -> dict[str, Any]:
    """``{"mean", "ci", "values"}`` over the seeds that have a value (all None when none has)."""
    present = [float(value) for value in values if finite(value)]
    if not present:
        return {"mean": None, "ci": [None, None], "values": list(values)}
    mean, (lo, hi) = bootstrap_mean(present, SUMMARY_RESAMPLES, seed=seed)
    return {"mean": mean, "ci": [none_if_nan(lo), none_if_nan(hi)], "values": list(values)}


def summarize_seeds(results: Iterable[RunResult], seed: int = 0) -> list[dict[str, Any]]:
    """One summary per (group, positional encoding, model): means over seeds, intervals, the best seed.

    GG and the transfer-window accuracy are averaged over the *learned* seeds only (an unlearned run has
    GG ≈ 0 without any transfer); the seeds left out are listed under ``unlearned``."""
    summaries = []
    for (name, positional, model), members in by_group(results).items():
        group = members[0].group
        best = max(members, key=lambda result: result.main_accuracy)
        learned = [result for result in members if result.learned]
        summaries.append({
            "group": name,
            "kind": group.kind,
            "positional": positional,
            "model": model,
            "main": {"task": group.main.task, "max_length": group.main.max_length},
            "aux": [{"task": spec.task, "max_length": spec.max_length} for spec in group.aux],
            "seeds": [result.seed for result in members],
            "runs": [result.label for result in members],
            "steps": [result.step for result in members],
            "learned": [result.learned for result in members],
            "learned_threshold": members[0].evaluation["learned_threshold"],
            "unlearned": [result.label for result in members if not result.learned],
            "evaluations": [result.evaluation["source"]["file"] for result in members],
            "narrow": {result.label: result.evaluation["source"] for result in members
                       if result.evaluation["source"]["lengths_missing"]},
            "gg": over_seeds([result.gg for result in learned], seed),
            "transfer_window_accuracy": over_seeds([result.transfer_window_accuracy for result in learned], seed),
            "main_accuracy": over_seeds([result.main_accuracy for result in members], seed),
            "best": {"run": best.label, "seed": best.seed, "main_accuracy": best.main_accuracy, "gg": best.gg,
                     "transfer_window_accuracy": best.transfer_window_accuracy, "learned": best.learned},
        })
    return summaries


def format_estimate(summary: dict[str, Any], percent: bool = False) -> str:
    """``0.123 [0.050, 0.200]`` (or in percent); ``n/a`` when undefined."""
    if summary["mean"] is None:
        return "n/a"
    scale, unit, digits = (100, "%", 1) if percent else (1, "", 3)
    lo, hi = (f"{scale * value:.{digits}f}" if value is not None else "?" for value in summary["ci"])
    return f"{scale * summary['mean']:.{digits}f}{unit} [{lo}, {hi}]"


def format_value(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def format_seeds_table(summaries: list[dict[str, Any]]) -> str:
    """One line per group: seeds (learned of all), mean GG and transfer-window accuracy over the learned seeds
    with intervals, the best seed."""
    header = (f"{'group':<18} {'pos':<4} {'model':<10} {'kind':<8} {'learned':>7}  {'GG mean [95% CI]':<24} "
              f"{'transfer window [95% CI]':<26} best seed (main acc, GG)")
    rows = [header, "-" * len(header)]
    for summary in summaries:
        best = summary["best"]
        learned = f"{sum(bool(flag) for flag in summary['learned'])}/{len(summary['seeds'])}"
        rows.append(
            f"{summary['group']:<18} {summary['positional']:<4} {summary['model']:<10} {summary['kind']:<8} "
            f"{learned:>7}  "
            f"{format_estimate(summary['gg']):<24} {format_estimate(summary['transfer_window_accuracy'], True):<26} "
            f"{best['seed']} ({format_value(best['main_accuracy'], True)}, {format_value(best['gg'])}"
            f"{'' if best['learned'] else ', not learned'})")
    threshold = summaries[0]["learned_threshold"] if summaries else LEARNED_THRESHOLD
    rows.append(f"GG: 0 = perfect transfer (mean |acc_aux − acc_main| up to the longer training length); learned: "
                f"every task ≥ {threshold:.0%} on its training lengths; GG and window over learned seeds only; "
                "intervals: bootstrap over seeds")
    rows += [f"not learned, left out of GG: {', '.join(summary['unlearned'])} ({summary['group']})"
             for summary in summaries if summary["unlearned"]]
    rows += [f"evaluated at fewer lengths than SPEC §6, so its GG covers only those: {label} ({source['file']} lacks "
             + "; ".join(f"{task} {lengths}" for task, lengths in source["lengths_missing"].items()) + ")"
             for summary in summaries for label, source in summary["narrow"].items()]
    return "\n".join(rows)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every cross-run command shares: runs, evaluation settings, device."""
    parser.add_argument("--runs", nargs="+", required=True,
                        help="run directories, or folders whose sub-folders are runs")
    parser.add_argument("--eval-count", type=int,
                        help=f"examples per task and length when an evaluation is (re)computed "
                             f"(default: reuse any, else {DEFAULT_TEST_COUNT})")
    parser.add_argument("--eval-lengths", nargs="+", help="evaluation lengths, e.g. 1-40 (default: SPEC §6's)")
    parser.add_argument("--learned-threshold", type=float, default=LEARNED_THRESHOLD,
                        help="mean exact match every task needs on its training lengths for a checkpoint to count as "
                             f"learned (default {LEARNED_THRESHOLD})")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def figure_parser(prog: str, description: str, figures: Path) -> argparse.ArgumentParser:
    """The command line of an ``analyses/`` script: the runs, evaluation settings and ``--out FOLDER``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_run_arguments(parser)
    parser.add_argument("--out", type=Path, default=figures, help=f"folder for the figures (default: {figures})")
    return parser


@dataclass(frozen=True)
class RunSelection:
    """``add_run_arguments``'s options, validated."""

    runs: list[Path]
    eval_count: int | None
    eval_lengths: list[int] | None
    device: torch.device
    learned_threshold: float = LEARNED_THRESHOLD


def parse_run_arguments(args: argparse.Namespace) -> RunSelection:
    if args.eval_count is not None and args.eval_count < 1:
        raise InterpError("--eval-count must be at least 1")
    if not 0 <= args.learned_threshold <= 1:
        raise InterpError(f"--learned-threshold is a fraction in [0, 1], got {args.learned_threshold}")
    if getattr(args, "out", None) is not None:  # the folder of an analyses/ script's or correlate's outputs
        check_writable(args.out)
    return RunSelection(expand_runs(args.runs), args.eval_count, parse_lengths(args.eval_lengths),
                        pick_device(args.device), args.learned_threshold)


def selected_results(selection: RunSelection) -> list[RunResult]:
    return final_results(selection.runs, selection.eval_count, selection.eval_lengths, selection.device,
                         selection.learned_threshold)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.seeds", description="Every group's result summarised over its seeds.")
    add_run_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write the summaries as JSON here")
    args = parser.parse_args(argv)
    if args.json:
        check_output_file(args.json)
    summaries = summarize_seeds(selected_results(parse_run_arguments(args)))
    print(format_seeds_table(summaries))
    if args.json:
        write_json(args.json, summaries)
        print(f"summaries: {args.json}")


if __name__ == "__main__":
    main()
