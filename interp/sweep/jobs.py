"""What a run still needs, read from its directory: a :class:`Job` of stages, or nothing when it is finished.

A run is finished when it has a checkpoint at its last step and that step's ``eval/step_NNNNNN.json`` (with
``--analyze``, also ``analysis/steps/step_NNNNNN.json``). Its stages are the command lines of
``interp.train`` (``--resume`` for an interrupted run), ``interp.evaluate`` and ``interp.head_overlap``, in
that order, as ``--dry-run`` prints them; a new run's job also carries its config, which its train stage
trains as given. A directory whose ``config.json`` differs from the grid's holds
another experiment: it is reported and left alone.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.config import RunConfig
from interp.errors import InterpError
from interp.run import (
    CONFIG_FILE,
    analysis_dir,
    checkpoint_steps,
    evaluation_path,
    read_config,
    step_record_path,
)
from interp.sweep.expansion import RunSpec

STATUS_FILE = "sweep.json"
STOP_FILE = ".stop"
STAGE_MODULES = {"train": "interp.train", "evaluate": "interp.evaluate", "analyze": "interp.head_overlap"}


@dataclass(frozen=True)
class Options:
    """How the sweep runs its jobs (from the command line)."""

    retries: int = 2
    eval_count: int | None = None
    analyze: bool = False
    threads: int | None = None
    """``OMP_NUM_THREADS`` for every run (``--cpus-per-run``)."""


@dataclass(frozen=True)
class Job:
    """The work one run still needs, as shipped to whatever executes it (picklable, paths absolute)."""

    name: str
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    """(stage, arguments of that stage module's command-line main), in order."""
    log: Path
    stop_file: Path
    threads: int | None
    config: RunConfig | None = None
    """A new run's config, which its train stage trains as given (the stage's arguments resolve to it too)."""


@dataclass(frozen=True)
class Plan:
    action: str
    """``finished``, ``conflict``, ``train``, ``resume from step N``, ``evaluate`` or ``analyze``."""
    job: Job | None
    problem: str = ""
    """Why the run cannot go ahead (its directory holds another experiment)."""


def run_dir(out: Path, run: RunSpec) -> Path:
    return Path(out).resolve() / run.name


def analysis_done(directory: Path, step: int) -> bool:
    """Whether ``interp.head_overlap`` has written its record for ``step``."""
    return step_record_path(analysis_dir(directory), step).is_file()


def plan(run: RunSpec, out: Path, options: Options) -> Plan:
    """Inspect the run's directory and decide what it still needs."""
    directory = run_dir(out, run)
    final = run.config.training.steps
    started = (directory / CONFIG_FILE).is_file()
    if started:
        problem = config_mismatch(directory, run.config)
        if problem:
            return Plan("conflict", None, problem)
    trained = final in checkpoint_steps(directory)
    evaluated = evaluation_path(directory, final).is_file()
    analyzed = analysis_done(directory, final)
    stages: list[tuple[str, tuple[str, ...]]] = []
    if not trained:
        resume = ("--out", str(directory), "--resume", "--quiet")
        stages.append(("train", resume if started else (*run.train_args, "--out", str(directory), "--quiet")))
    count = () if options.eval_count is None else ("--count", str(options.eval_count))
    if not (trained and evaluated):
        stages.append(("evaluate", ("--run", str(directory), "--step", str(final), *count)))
    if options.analyze and (stages or not analyzed):
        stages.append(("analyze", ("--run", str(directory), "--step", str(final), *count, "--quiet")))
    if not stages:
        return Plan("finished", None)
    if stages[0][0] == "train":
        steps = checkpoint_steps(directory)
        action = f"resume from step {steps[-1] if steps else 0}" if started else "train"
    else:
        action = stages[0][0]
    job = Job(run.name, tuple(stages), Path(out).resolve() / "logs" / f"{run.name}.log",
              Path(out).resolve() / STOP_FILE, options.threads, None if started else run.config)
    return Plan(action, job)


def config_mismatch(directory: Path, expected: RunConfig) -> str:
    """'' when the run directory holds the expected experiment, else a line naming what differs."""
    try:
        found = read_config(directory)
    except InterpError as error:
        return str(error)
    if found == expected:
        return ""
    found_fields = flatten(found.to_dict())
    differing = [key for key, value in flatten(expected.to_dict()).items() if found_fields.get(key) != value]
    return (f"{directory} holds a different run (differing: {', '.join(differing[:6])}); move it away or use "
            "another --out")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def stage_command(stage: str, args: tuple[str, ...]) -> str:
    return f"python -m {STAGE_MODULES[stage]} {shlex.join(args)}"
