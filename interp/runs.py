"""What every cross-run command shares: choosing runs (``--runs``: a run directory, or a folder whose
sub-folders are runs), short labels for them, their evaluations per checkpoint (reused from ``RUN/eval/``
when a fresh one answers the request, :func:`interp.evaluate.answers_request`; computed with
``interp.evaluate`` when none does) and each run's result at its last checkpoint.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from interp.cli import add_device_argument, parse_lengths, pick_device
from interp.config import RunConfig
from interp.data import DEFAULT_TEST_COUNT
from interp.errors import InterpError
from interp.evaluate import (
    LEARNED_THRESHOLD,
    Evaluation,
    answers_request,
    evaluate_run,
    fullest_evaluation,
    main_window_accuracy,
    mean_main_accuracy,
    with_source,
)
from interp.groups import TaskGroup
from interp.run import CONFIG_FILE, read_config, resolve_step
from interp.storage import check_writable


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


def evaluations(
    run_dir: Path, steps: Sequence[int], count: int | None = None, lengths: list[int] | None = None,
    device: torch.device | str = "cpu", config: RunConfig | None = None, threshold: float = LEARNED_THRESHOLD,
) -> dict[int, Evaluation]:
    """``interp.evaluate`` evaluations of the given checkpoints: of the fresh ones in ``eval/`` that answer the request
    the fullest (:func:`interp.evaluate.fullest_evaluation`), the rest computed; their transfer metrics computed from
    the accuracies with ``threshold`` for ``learned``, and each says which file it is (``source``)."""
    config = config or read_config(run_dir)

    def answers(record: dict[str, Any]) -> bool:
        return answers_request(record, config.group, count, lengths)

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
    evaluation: Evaluation

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
        return self.evaluation.gg

    @property
    def transfer_window_accuracy(self) -> float | None:
        return self.evaluation.transfer_window_accuracy

    def window_accuracy(self, window: tuple[int, int] | None = None) -> float | None:
        """The transfer-window accuracy: the run's own, or with ``window`` (low, high] its main task's over those
        lengths (:func:`interp.evaluate.main_window_accuracy`), to compare a baseline with its related group."""
        if window is None:
            return self.transfer_window_accuracy
        accuracy = {task: entry.accuracy for task, entry in self.evaluation.tasks.items()}
        return main_window_accuracy(self.group, accuracy, *window)

    @property
    def learned(self) -> bool | None:
        return self.evaluation.learned

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
    add_device_argument(parser)


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
