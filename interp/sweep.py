"""Sweeps: grids of training runs, one after another on this machine or in parallel on a Ray cluster.

    python -m interp.sweep --grid sweeps/NAME.toml --out runs/NAME [--executor local|ray] [--address ADDR]
        [--gpus-per-run G] [--cpus-per-run C] [--max-parallel N] [--retries R] [--eval-count N] [--analyze]
        [--dry-run]

The paper's results (Cai et al., "Extrapolation by Association: Length Generalization Transfer in
Transformers", arXiv 2506.09251) rest on hundreds of trainings: every task group × 5 seeds, RoPE vs NoPE,
and the Fig. 10 grid of main × auxiliary training lengths × 3 seeds. A sweep file names a base experiment
and the axes to vary; this module expands it into runs with stable, readable names and brings every run
to "trained and evaluated", never losing or repeating finished work.

Sweep file (TOML; the presets live in ``sweeps/``)::

    description = "copy ≤ 4 + reverse ≤ 8 on the micro model, two seeds"
    [base]                       # one value per axis, shared by every run
    model = "micro"
    group = "copy_reverse"
    main_length = 4
    aux_length = 8
    steps = 20
    [grid]                       # a list per axis; the runs are the cartesian product
    seed = [0, 1]

Axes: ``group`` and ``model`` (a preset name, or a ``.toml`` path relative to the sweep file), ``seed``,
``data_seed``, ``positional`` (rope/nope), ``main_length`` (the main task's training length) and
``aux_length`` (every auxiliary task's), any ``[training]`` field of a size preset (``steps``, ``lr``,
``warmup_fraction``, …) and any ``[model]`` field (``n_ctx``, ``d_model``, …). ``model``, ``group`` and
``seed`` are required. Changed lengths make a derived group, written to ``OUT/groups/NAME.toml``; model
fields and training fields that ``interp.train`` has no flag for make a derived size preset in
``OUT/models/``. Each run's ``config.json`` holds its resolved group and model, as for any run.

Names. ``GROUP[-LmainxAUX][-MODEL][-POSITIONAL][-FIELDvalue…][-dDATASEED]-sSEED``: the group and seed
always, the lengths whenever they are set, every other axis when it varies in ``[grid]``; e.g.
``add_carry-L16x32-s0``, ``add_carry-nope-s3``, ``copy_reverse-L4x8-lr0.0003-s1``. The same file always
gives the same names in the same order (seed-major, so a half-finished sweep already holds whole
replicates). Names are unique and safe directory names, or expansion fails naming the clash.

Context length. A run is evaluated up to 1.25× its longest training length (SPEC §6), and the model's
``n_ctx`` must hold those sequences (reverse addition at length 320 takes 967 tokens). Expansion checks
every run and fails naming the first that does not fit and the ``n_ctx`` it needs; the Fig. 10 preset
sets ``n_ctx = 1024``.

Execution. Each run is one child process (``python -m interp.sweep job …``) that calls the command-line
mains of ``interp.train`` (``--resume`` for an interrupted run), ``interp.evaluate`` and, with
``--analyze``, ``interp.head_overlap`` in turn — the commands ``--dry-run`` prints — so a crash never takes
the sweep down, and torch and TransformerLens (about 5 s to import) are loaded once per run, not per stage. ``--executor local`` runs them one after another; ``--executor ray`` makes each a Ray task
with its resource request (``--cpus-per-run``, ``--gpus-per-run``) on the cluster at ``--address``, or
on a local cluster started for the sweep. On a cluster, ``--out`` must be a path every node sees and
every node needs this package installed. ``--cpus-per-run`` also sets the run's thread count
(``OMP_NUM_THREADS``), so both executors compute bit-identical runs.

State lives on disk: a run is finished when it has a checkpoint at its last step and that step's
``eval/step_NNNNNN.json`` (with ``--analyze``, also ``analysis/steps/step_NNNNNN.json``); finished runs are skipped,
interrupted ones resumed, a directory whose ``config.json`` differs from the grid's is reported and
left alone. A failed run (exit status other than 0 and 2) is retried ``--retries`` times, resuming from
its last checkpoint, while the others go on; bad input (status 2) is not retried. ``OUT/sweep.json``
(status, attempts, error and settings per run) is rewritten atomically as runs change state and each
run's output goes to ``OUT/logs/NAME.log``.

Stopping. SIGINT/SIGTERM to the sweep write ``OUT/.stop``; each running job forwards SIGTERM to its
child, training saves a checkpoint and exits, and the sweep exits 128+signal. The next invocation
finishes what was left. On Linux a job also stops when the process that started it dies, even by ``kill -9``
(the kernel sends it SIGTERM: ``PR_SET_PDEATHSIG``), so a killed sweep leaves no training behind, only a
checkpoint to resume from, and the job marks its run ``pending`` in ``sweep.json`` (whose ``process`` names the
sweep that writes it), which would otherwise say ``running`` for good; elsewhere a ``kill -9`` of the sweep leaves its current job running to the end
of its run (holding the run's lock meanwhile).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import importlib
import importlib.util
import itertools
import json
import logging
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from interp.config import RunConfig, TrainConfig, check_context, load_size_preset
from interp.errors import InterpError, cli_main
from interp.groups import TaskGroup, load_group
from interp.model import ModelConfig
from interp.presets import check_keys, read_toml
from interp.run import CONFIG_FILE, checkpoint_steps, read_config
from interp.storage import RunLock, check_writable, read_json, write_json, write_text
from interp.tasks import default_tokens

STATUS_FILE = "sweep.json"
STOP_FILE = ".stop"
POLL_SECONDS = 0.2
"""How often a running job looks for the stop request."""

SCALAR_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
MODEL_FIELDS = {field.name: SCALAR_TYPES[field.type] for field in fields(ModelConfig)
                if field.type in SCALAR_TYPES and field.name != "positional"}
TRAINING_FIELDS = {field.name: SCALAR_TYPES[field.type] for field in fields(TrainConfig) if field.type in SCALAR_TYPES}
TRAINING_FLAGS = ("steps", "batch_size", "lr", "eval_every", "checkpoint_every")
"""Training fields ``interp.train`` takes as flags; the others go into a derived size preset."""
RUN_AXES = {"group": str, "main_length": int, "aux_length": int, "model": str, "positional": str,
            "seed": int, "data_seed": int}
AXES = {**RUN_AXES, **MODEL_FIELDS, **TRAINING_FIELDS}
EXPANSION_ORDER = ("seed", "data_seed", "group", "main_length", "aux_length", "model", "positional",
                   *MODEL_FIELDS, *TRAINING_FIELDS)
"""The grid's product runs over the axes in this order: seed-major."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}")
STAGE_MODULES = {"train": "interp.train", "evaluate": "interp.evaluate", "analyze": "interp.head_overlap"}
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


# ---- the sweep file ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """A parsed sweep file: fixed values for some axes, lists of values for the others."""

    path: Path
    description: str
    base: dict[str, Any]
    axes: dict[str, tuple[Any, ...]]

    @property
    def size(self) -> int:
        return math.prod(len(values) for values in self.axes.values())


def load_grid(path: str | Path) -> Grid:
    """Read and validate a sweep file; every mistake is one line naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise InterpError(f"sweep file {path} does not exist")
    table = read_toml(path)
    where = f"sweep file {path}"
    check_keys(table, {"description", "base", "grid"}, where)
    base, grid = table.get("base", {}), table.get("grid", {})
    if not isinstance(base, dict) or not isinstance(grid, dict):
        raise InterpError(f"{where}: [base] and [grid] must be tables")
    check_keys(base, set(AXES), f"{where} [base]")
    check_keys(grid, set(AXES), f"{where} [grid]")
    both = sorted(set(base) & set(grid))
    if both:
        raise InterpError(f"{where}: {', '.join(both)} is set in both [base] and [grid]; keep one")
    missing = [axis for axis in ("model", "group", "seed") if axis not in base and axis not in grid]
    if missing:
        raise InterpError(f"{where}: every run needs {', '.join(missing)} (in [base] or [grid])")
    checked_base = {key: checked_value(key, value, f"{where} [base]") for key, value in base.items()}
    axes = {}
    for key in EXPANSION_ORDER:
        if key not in grid:
            continue
        values = grid[key]
        if not isinstance(values, list) or not values:
            raise InterpError(f"{where} [grid]: {key} must be a non-empty list of values, got {values!r}")
        values = tuple(checked_value(key, value, f"{where} [grid]") for value in values)
        if len(set(values)) != len(values):
            raise InterpError(f"{where} [grid]: {key} lists a value twice ({', '.join(map(str, values))})")
        axes[key] = values
    return Grid(path, str(table.get("description", "")), checked_base, axes)


def checked_value(key: str, value: Any, where: str) -> Any:
    expected = AXES[key]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise InterpError(f"{where}: {key} takes {expected.__name__} values, got {value!r}")
    return value


# ---- expansion ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedFile:
    """A preset the sweep writes into its output directory before running."""

    path: Path
    text: str


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its name, settings, the config it must end up with, and how to start it."""

    name: str
    settings: dict[str, Any]
    config: RunConfig
    train_args: tuple[str, ...]
    """``interp.train`` arguments for a new run (without ``--out``)."""
    files: tuple[DerivedFile, ...]


def expand(grid: Grid, out: Path) -> list[RunSpec]:
    """The grid's runs, in a fixed order; derived presets are placed under ``out``."""
    out = Path(out).resolve()
    keys = list(grid.axes)
    runs = [make_run(grid, {**grid.base, **dict(zip(keys, values, strict=True))}, out)
            for values in itertools.product(*grid.axes.values())]
    seen: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.name in seen:
            raise InterpError(f"{grid.path}: two runs are both named {run.name!r} ({seen[run.name]} and "
                              f"{run.settings}); give presets distinct file names")
        seen[run.name] = run.settings
    contents: dict[Path, str] = {}
    for file in (file for run in runs for file in run.files):
        if contents.setdefault(file.path, file.text) != file.text:
            raise InterpError(f"{grid.path}: two different presets would both be written to {file.path}; "
                              "give the presets distinct file names")
    return runs


def run_name(settings: dict[str, Any], grid: Grid, group: TaskGroup) -> str:
    """``GROUP[-LmainxAUX][-MODEL][-POSITIONAL][-FIELDvalue…][-dDATASEED]-sSEED`` (see the module docstring)."""
    varied = set(grid.axes)
    parts = [preset_label(settings["group"])]
    if "main_length" in settings or "aux_length" in settings:
        parts.append(f"L{group.main.max_length}" + (f"x{group.aux_length}" if group.aux else ""))
    if "model" in varied:
        parts.append(preset_label(settings["model"]))
    if "positional" in varied:
        parts.append(settings["positional"])
    parts += [f"{key}{format_value(settings[key])}" for key in (*MODEL_FIELDS, *TRAINING_FIELDS) if key in varied]
    if "data_seed" in varied:
        parts.append(f"d{settings['data_seed']}")
    parts.append(f"s{settings['seed']}")
    return "-".join(parts)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return format(value, "g") if isinstance(value, float) else str(value)


def preset_label(value: str) -> str:
    return Path(value).stem if value.endswith(".toml") else value


def preset_argument(value: str, grid: Grid) -> str:
    """A preset name as is; a ``.toml`` path made absolute, relative to the sweep file."""
    return str((grid.path.parent / value).resolve()) if value.endswith(".toml") else value


def make_run(grid: Grid, settings: dict[str, Any], out: Path) -> RunSpec:
    try:
        base_group = load_group(preset_argument(settings["group"], grid))
        group = derive_group(base_group, settings.get("main_length"), settings.get("aux_length"))
    except InterpError as error:
        raise InterpError(f"{grid.path}: the run with {settings}: {error}") from None
    name = run_name(settings, grid, group)
    if not NAME_PATTERN.fullmatch(name):
        raise InterpError(f"{grid.path}: run name {name!r} is not a safe directory name (letters, digits and "
                          "._+=- only); rename the preset file")
    try:
        config, train_args, files = resolve_run(grid, settings, base_group, group, out)
        check_context(config, advice="set n_ctx = {fit} (or more) in [base] or use shorter lengths")
    except InterpError as error:
        raise InterpError(f"{grid.path}: run {name}: {error}") from None
    return RunSpec(name, settings, config, train_args, files)


def resolve_run(
    grid: Grid, settings: dict[str, Any], base_group: TaskGroup, group: TaskGroup, out: Path,
) -> tuple[RunConfig, tuple[str, ...], tuple[DerivedFile, ...]]:
    """The config the run must have, the ``interp.train`` arguments that give it, and the files they need."""
    seed, data_seed = settings["seed"], settings.get("data_seed", 0)
    if seed < 0 or data_seed < 0:
        raise InterpError("seeds must be non-negative integers")
    model_argument = preset_argument(settings["model"], grid)
    preset_name, model, training = load_size_preset(model_argument)
    files = []
    model_changes = {key: settings[key] for key in MODEL_FIELDS if key in settings}
    preset_training = {key: settings[key] for key in TRAINING_FIELDS if key in settings and key not in TRAINING_FLAGS}
    if model_changes or preset_training:
        preset_name = "-".join([preset_name, *(f"{key}{format_value(value)}"
                                               for key, value in {**model_changes, **preset_training}.items())])
        model = ModelConfig.from_dict({**model.to_dict(), **model_changes}, "[model] fields")
        training = training.replace(**preset_training)
        model_argument = str(out / "models" / f"{preset_name}.toml")
        files.append(DerivedFile(Path(model_argument), size_preset_toml(preset_name, model, training)))
    group_argument = preset_argument(settings["group"], grid)
    if group != base_group:
        group_argument = str(out / "groups" / f"{group.name}.toml")
        files.append(DerivedFile(Path(group_argument), group_toml(group, base_group)))
    args = ["--model", model_argument, "--group", group_argument, "--seed", str(seed), "--data-seed", str(data_seed)]
    if "positional" in settings:
        model = ModelConfig.from_dict({**model.to_dict(), "positional": settings["positional"]}, "positional")
        args += ["--positional", settings["positional"]]
    flags = {key: settings[key] for key in TRAINING_FLAGS if key in settings}
    training = training.replace(**flags)
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    config = RunConfig(preset_name, model, group, training, seed, data_seed, default_tokens())
    return config, tuple(args), tuple(files)


def derive_group(group: TaskGroup, main_length: int | None, aux_length: int | None) -> TaskGroup:
    """The group with its main and/or auxiliary training lengths replaced (validated like any preset)."""
    if main_length is None and aux_length is None:
        return group
    if aux_length is not None and not group.aux:
        raise InterpError(f"group {group.name!r} has no auxiliary task, so aux_length does not apply")
    main = group.main.max_length if main_length is None else main_length
    table = {
        "kind": group.kind,
        "main": {"task": group.main.task, "max_length": main},
        "aux": [{"task": spec.task, "max_length": spec.max_length if aux_length is None else aux_length}
                for spec in group.aux],
    }
    name = f"{group.name}-L{main}" + (f"x{aux_length or group.aux_length}" if group.aux else "")
    lengths = ", ".join(f"{spec['task']} ≤ {spec['max_length']}" for spec in [table["main"], *table["aux"]])
    table["description"] = f"{group.name} at other lengths: {lengths}"
    return TaskGroup.from_dict(table, name)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def toml_pairs(table: dict[str, Any]) -> list[str]:
    return [f"{key} = {toml_value(value)}" for key, value in table.items()]


def group_toml(group: TaskGroup, base: TaskGroup) -> str:
    lines = [f"# written by interp.sweep from group {base.name!r}", *toml_pairs({"kind": group.kind,
             "description": group.description}), "", "[main]", *toml_pairs(dataclasses.asdict(group.main))]
    for spec in group.aux:
        lines += ["", "[[aux]]", *toml_pairs(dataclasses.asdict(spec))]
    return "\n".join(lines) + "\n"


def size_preset_toml(name: str, model: ModelConfig, training: TrainConfig) -> str:
    lines = ["# written by interp.sweep", *toml_pairs({"description": f"{name} (derived by a sweep)"}), "",
             "[model]", *toml_pairs(model.to_dict()), "", "[training]", *toml_pairs(dataclasses.asdict(training))]
    return "\n".join(lines) + "\n"


# ---- what a run still needs ------------------------------------------------------------------------


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
    return (directory / "analysis" / "steps" / f"step_{step:06d}.json").is_file()


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
    evaluated = (directory / "eval" / f"step_{final:06d}.json").is_file()
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
              Path(out).resolve() / STOP_FILE, options.threads)
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


# ---- running one job --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a job ended."""

    code: int
    """The job process's exit status (negative: killed by that signal)."""
    stage: str
    """The stage that ended it ('' when every stage succeeded)."""
    error: str
    started: float
    finished: float


def execute(job: Job) -> Outcome:
    """Run the job as a child process; forward a stop request to it as SIGTERM. Runs under Ray, too."""
    started = time.time()
    if job.stop_file.exists():
        return Outcome(128 + signal.SIGTERM, "", "stopped before it started", started, started)
    job.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, PARENT_VARIABLE: str(os.getpid())}
    if job.threads:
        env["OMP_NUM_THREADS"] = str(job.threads)
    with open(job.log, "a") as log:
        log.write(f"=== {datetime.now().isoformat(timespec='seconds')} on {os.uname().nodename}\n")
        log.flush()
        offset = log.tell()
        # A new session: a Ctrl-C at the terminal reaches the sweep only, which forwards exactly one SIGTERM.
        status = job.stop_file.parent / STATUS_FILE
        child = subprocess.Popen([sys.executable, "-m", "interp.sweep", "job", json.dumps(job.stages), job.name,
                                  str(status)],
                                 stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        code = wait_or_stop(child, job.stop_file)
    stage, error = failure(job.log, offset) if code else ("", "")
    return Outcome(code, stage, error, started, time.time())


def wait_or_stop(child: subprocess.Popen, stop_file: Path) -> int:
    forwarded = False
    while True:
        try:
            return child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if stop_file.exists() and not forwarded:
                child.send_signal(signal.SIGTERM)
                forwarded = True


def failure(log: Path, offset: int) -> tuple[str, str]:
    """The failing stage and its message: its ``error: …`` line, else the last line it printed."""
    with open(log, errors="replace") as handle:
        handle.seek(offset)
        lines = [line.strip() for line in handle.read().splitlines() if line.strip()]
    stages = [line.split()[1].rstrip(":") for line in lines if line.startswith("== ") and len(line.split()) > 1]
    printed = [line for line in lines if not line.startswith("== ")]
    errors = [line for line in printed if line.startswith("error:")]
    message = errors[-1] if errors else (printed[-1] if printed else "no output")
    return (stages[-1] if stages else ""), message[:500]


PARENT_VARIABLE = "INTERP_SWEEP_PARENT"
"""The environment variable through which a job learns which process started it (:func:`stop_with_parent`)."""
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def stop_with_parent() -> None:
    """On Linux, have the kernel send this job SIGTERM when the process that started it dies, ``kill -9``
    included: training then saves a checkpoint and exits as on any SIGTERM. If that process died before the
    request was made, stop at once. Elsewhere (no ``prctl``) nothing is arranged."""
    if not sys.platform.startswith("linux") or PARENT_VARIABLE not in os.environ:
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(os.environ[PARENT_VARIABLE]):
        os.kill(os.getpid(), signal.SIGTERM)


def run_job(stages: list[list[Any]], name: str | None = None, status: str | None = None) -> int:
    """The job process: each stage's command-line main in turn, stopping at the first that fails; run ``name``
    of the sweep whose ``sweep.json`` is ``status``."""
    stop_with_parent()
    code = 0
    for stage, args in stages:
        print(f"== {stage}: {stage_command(stage, tuple(args))}", flush=True)
        code = call_main(STAGE_MODULES[stage], list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        if code:
            print(f"== {stage} exited with status {code}", flush=True)
            break
    parent = int(os.environ.get(PARENT_VARIABLE, os.getppid()))
    if status and name and has_died(parent):  # the sweep was killed (kill -9): it cannot record how this ended
        record_orphaned(Path(status), name, parent, code)
    return code


def has_died(parent: int) -> bool:
    """Whether the process that started this job is gone: this job was handed to another parent, or (Linux) the
    parent is a zombie, as a killed process with several threads is for a while before its children move."""
    if os.getppid() != parent:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        return Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # reaped meanwhile
        return True


def record_orphaned(status: Path, name: str, sweep_process: int, code: int) -> None:
    """Say in ``sweep.json`` that the run is no longer running, for the sweep that died while its job ran (a new
    sweep that has taken its place since owns the file)."""
    try:
        saved = read_json(status)
    except InterpError:
        return
    if not isinstance(saved, dict) or saved.get("process") != sweep_process:
        return
    record = saved.get("runs", {}).get(name)
    if not isinstance(record, dict) or record.get("status") != "running":
        return
    record.update(status="pending", finished=time.time(), error=f"the sweep (process {sweep_process}) was killed "
                  f"while this run was running; its job then ended with status {code}; run the sweep again to "
                  "continue it")
    write_json(status, saved)


def call_main(module: str, args: list[str]) -> int:
    try:
        importlib.import_module(module).main(args)
    except SystemExit as exited:
        if exited.code is None or isinstance(exited.code, int):
            return exited.code or 0
        print(exited.code, file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        traceback.print_exc()
        return EXIT_FAILED
    return 0


# ---- executors ---------------------------------------------------------------------------------------


class Executor(Protocol):
    capacity: int
    """How many jobs may run at once."""

    def submit(self, job: Job) -> None: ...

    def wait(self) -> list[tuple[Job, Outcome]]:
        """Finished jobs (possibly none yet: call again)."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """One job after another, in a child process of this one."""

    capacity = 1

    def __init__(self) -> None:
        self.queue: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def wait(self) -> list[tuple[Job, Outcome]]:
        job = self.queue.popleft()
        return [(job, execute(job))]

    def close(self) -> None:
        pass


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InterpError("--executor ray needs Ray, an optional dependency: pip install -e '.[ray]'") from None
    return ray


class RayExecutor:
    """Each job a Ray task with a resource request, on an existing cluster or a local one started here."""

    def __init__(self, address: str | None, cpus: float, gpus: float, max_parallel: int | None) -> None:
        self.ray = import_ray()
        try:
            self.ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                          logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise InterpError(f"cannot start or reach a Ray cluster at {address or 'a new local one'}: {error}") from None
        self.remote = self.ray.remote(execute).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        self.capacity = max_parallel or self.fitting_runs(cpus, gpus)
        self.running: dict[Any, Job] = {}

    def fitting_runs(self, cpus: float, gpus: float) -> int:
        """How many runs the cluster's resources hold at once (so that submitted means running)."""
        available = self.ray.cluster_resources()
        fits = [available.get("CPU", 0) / cpus] + ([available.get("GPU", 0) / gpus] if gpus else [])
        if min(fits) < 1:
            raise InterpError(f"the Ray cluster has {available.get('CPU', 0):g} CPUs and {available.get('GPU', 0):g} "
                              f"GPUs, less than one run asks for ({cpus:g} CPUs, {gpus:g} GPUs); an autoscaling "
                              "cluster needs --max-parallel")
        return int(min(fits))

    def submit(self, job: Job) -> None:
        self.running[self.remote.remote(job)] = job

    def wait(self) -> list[tuple[Job, Outcome]]:
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=1.0)
        finished = []
        for ref in ready:
            job = self.running.pop(ref)
            try:
                finished.append((job, self.ray.get(ref)))
            except self.ray.exceptions.RayError as error:  # the worker or its node died
                now = time.time()
                finished.append((job, Outcome(EXIT_FAILED, "", f"Ray: {str(error).splitlines()[0]}", now, now)))
        return finished

    def close(self) -> None:
        self.ray.shutdown()


# ---- the sweep ---------------------------------------------------------------------------------------


class Status:
    """``OUT/sweep.json``: the state of every run, rewritten atomically on every change."""

    def __init__(self, out: Path, grid: Grid, runs: list[RunSpec], executor: str) -> None:
        self.path = Path(out) / STATUS_FILE
        self.header = {"grid": str(grid.path), "description": grid.description, "executor": executor,
                       "process": os.getpid()}
        self.runs = {run.name: {"status": "pending", "attempts": 0, "error": "", "dir": str(run_dir(out, run)),
                                "settings": run.settings} for run in runs}

    def set(self, name: str, **changes: Any) -> None:
        self.runs[name].update(changes)
        self.save()

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.runs.values())

    def save(self) -> None:
        write_json(self.path, {**self.header, "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                               "runs": self.runs})


class StopRequest:
    """SIGINT/SIGTERM while the sweep runs: remember the signal and write the stop file jobs watch."""

    def __init__(self, stop_file: Path) -> None:
        self.stop_file = stop_file
        self.signal: int | None = None

    def __call__(self, number: int, frame: object) -> None:
        if self.signal is None:
            self.signal = number
            write_text(self.stop_file, f"{signal.Signals(number).name}\n")
            tqdm.write(f"{signal.Signals(number).name}: stopping; running runs save a checkpoint first")

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        self.stop_file.unlink(missing_ok=True)
        previous = {number: signal.signal(number, self) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.stop_file.unlink(missing_ok=True)


def run_sweep(
    runs: list[RunSpec], out: Path, status: Status, executor_factory: Callable[[], Executor], options: Options,
    stop: StopRequest,
) -> int:
    """Bring every run to finished. Returns 0 (all finished), 1 (some failed) or 128+signal (stopped)."""
    out = Path(out).resolve()
    todo: deque[RunSpec] = deque()
    for run in runs:
        verdict = plan(run, out, options)
        if verdict.action == "finished":
            status.set(run.name, status="skipped")
        elif verdict.problem:
            status.set(run.name, status="failed", error=verdict.problem)
            tqdm.write(f"✗ {run.name}: {verdict.problem}")
        else:
            todo.append(run)
    status.save()
    if not todo:
        tqdm.write(f"nothing to do: {status.count('skipped')} of {len(runs)} runs already finished"
                   + (f", {status.count('failed')} in conflict" if status.count("failed") else ""))
        return EXIT_FAILED if status.count("failed") else 0
    write_derived_presets(todo)
    by_name = {run.name: run for run in runs}
    executor: Executor = executor_factory()
    bar = tqdm(total=len(runs), initial=status.count("skipped") + status.count("failed"), unit="run",
               desc="sweep", dynamic_ncols=True)
    running = 0
    try:
        while todo or running:
            while todo and running < executor.capacity and stop.signal is None:
                run = todo.popleft()
                verdict = plan(run, out, options)
                if verdict.job is None:
                    finish(status, bar, run.name, "failed" if verdict.problem else "done", verdict.problem)
                    continue
                attempts = status.runs[run.name]["attempts"] + 1
                status.set(run.name, status="running", attempts=attempts, started=time.time(), action=verdict.action)
                tqdm.write(f"→ {run.name}: {verdict.action}" + (f" (attempt {attempts})" if attempts > 1 else ""))
                executor.submit(verdict.job)
                running += 1
            if not running:
                break
            show_counts(bar, status, running)
            for job, outcome in executor.wait():
                running -= 1
                settle(by_name[job.name], outcome, out, status, bar, todo, options, stop)
                show_counts(bar, status, running)
    finally:
        bar.close()
        executor.close()
    summary = ", ".join(f"{status.count(name)} {name}" for name in ("done", "skipped", "failed", "pending")
                        if status.count(name))
    tqdm.write(f"{summary}; status in {status.path}")
    if stop.signal is not None:
        return 128 + stop.signal
    return EXIT_FAILED if status.count("failed") else 0


def write_derived_presets(runs: Iterable[RunSpec]) -> None:
    """Write the derived group and size presets the runs train from (unchanged ones are left alone)."""
    for file in {file.path: file for run in runs for file in run.files}.values():
        if not file.path.is_file() or file.path.read_text() != file.text:
            write_text(file.path, file.text)


def show_counts(bar: tqdm, status: Status, running: int) -> None:
    bar.set_postfix_str(f"done {status.count('done')} · running {running} · failed {status.count('failed')}")


def finish(status: Status, bar: tqdm, name: str, state: str, error: str = "") -> None:
    status.set(name, status=state, error=error, finished=time.time())
    bar.update(1)


def settle(run: RunSpec, outcome: Outcome, out: Path, status: Status, bar: tqdm, todo: deque[RunSpec],
           options: Options, stop: StopRequest) -> None:
    """Record a job's outcome: done, retried later, failed for good, or left for the next invocation."""
    name, attempts = run.name, status.runs[run.name]["attempts"]
    seconds = outcome.finished - outcome.started
    if outcome.code == 0:
        verdict = plan(run, out, options)
        if verdict.action == "finished":
            status.set(name, started=outcome.started)
            finish(status, bar, name, "done")
            tqdm.write(f"✓ {name}: done in {seconds:.0f} s")
            return
        error = f"its job succeeded but the run still needs: {verdict.action}"
    elif stop.signal is not None:
        status.set(name, status="pending", error="", started=outcome.started, finished=outcome.finished)
        tqdm.write(f"■ {name}: stopped; the next invocation continues it")
        return
    else:
        error = f"{outcome.stage or 'job'} (exit status {outcome.code}): {outcome.error}"
    if outcome.code != EXIT_BAD_INPUT and attempts <= options.retries:
        status.set(name, status="pending", error=error)
        todo.append(run)
        tqdm.write(f"✗ {name}: {error} — retrying ({attempts} of {options.retries + 1} attempts used)")
        return
    finish(status, bar, name, "failed", error)
    tqdm.write(f"✗ {name}: failed: {error}; its log is {out / 'logs' / (name + '.log')}")


def dry_run(runs: list[RunSpec], out: Path, options: Options) -> None:
    """Print what each run still needs and the commands that would do it; write nothing."""
    for run in runs:
        verdict = plan(run, out, options)
        print(f"{run.name}: {verdict.problem or verdict.action}")
        for stage, args in verdict.job.stages if verdict.job else ():
            print(f"    {stage_command(stage, args)}")
    derived = {file.path for run in runs for file in run.files}
    print(f"{len(runs)} runs" + (f"; {len(derived)} derived presets would be written" if derived else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interp.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=Path, required=True, help="sweep file (TOML), e.g. sweeps/micro_smoke.toml")
    parser.add_argument("--out", type=Path, required=True, help="sweep directory: one run directory per run")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="Ray cluster address (default: start a local cluster for the sweep)")
    parser.add_argument("--cpus-per-run", type=float, help="Ray CPUs per run (default 1); also the run's threads")
    parser.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray GPUs per run (default 0)")
    parser.add_argument("--max-parallel", type=int,
                        help="at most this many Ray runs at once (default: as many as the cluster's resources hold)")
    parser.add_argument("--retries", type=int, default=2, help="retries of a failed run (default 2)")
    parser.add_argument("--eval-count", type=int,
                        help="test examples per task and length in the final evaluation (and the --analyze analysis)")
    parser.add_argument("--analyze", action="store_true", help="also run interp.head_overlap on every run")
    parser.add_argument("--dry-run", action="store_true", help="print what would run, write nothing")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    if args.executor == "local":
        given = [flag for flag, value in (("--address", args.address), ("--gpus-per-run", args.gpus_per_run),
                                          ("--max-parallel", args.max_parallel)) if value]
        if given:
            raise InterpError(f"{', '.join(given)} apply to --executor ray only")
    if args.cpus_per_run is not None and args.cpus_per_run <= 0:
        raise InterpError("--cpus-per-run must be positive")
    if args.gpus_per_run < 0 or (args.max_parallel is not None and args.max_parallel < 1):
        raise InterpError("--gpus-per-run must be ≥ 0 and --max-parallel ≥ 1")
    if args.retries < 0 or (args.eval_count is not None and args.eval_count < 1):
        raise InterpError("--retries must be ≥ 0 and --eval-count ≥ 1")
    if args.executor == "ray":
        import_ray()
    if args.analyze and importlib.util.find_spec("interp.head_overlap") is None:
        raise InterpError("--analyze needs interp.head_overlap, which this installation lacks")


def sweep(args: argparse.Namespace) -> int:
    check_arguments(args)
    grid = load_grid(args.grid)
    runs = expand(grid, args.out)
    threads = None if args.cpus_per_run is None else max(1, int(args.cpus_per_run))
    options = Options(args.retries, args.eval_count, args.analyze, threads)
    if args.dry_run:
        dry_run(runs, args.out, options)
        return 0
    out = args.out.resolve()
    check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out), StopRequest(out / STOP_FILE).installed() as stop:
        status = Status(out, grid, runs, args.executor)
        if args.executor == "ray":
            def factory() -> Executor:
                executor = RayExecutor(args.address, args.cpus_per_run or 1.0, args.gpus_per_run, args.max_parallel)
                for number in (signal.SIGINT, signal.SIGTERM):  # ray.init installs its own handlers
                    signal.signal(number, stop)
                return executor
        else:
            factory = LocalExecutor
        return run_sweep(runs, out, status, factory, options, stop)


@cli_main
def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["job"]:  # the child process of one run (see execute)
        raise SystemExit(run_job(json.loads(argv[1]), *argv[2:4]))
    raise SystemExit(sweep(build_parser().parse_args(argv)))


if __name__ == "__main__":
    # Run the package's copy of this module, not ``__main__``'s: Ray pickles ``execute`` and ``Job`` by
    # reference, and workers import them as ``interp.sweep``.
    from interp.sweep import main as package_main

    package_main()
