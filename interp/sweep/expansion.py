"""A grid's runs: names, resolved configs, the ``interp.train`` arguments that give them, derived presets.

:func:`expand` turns every combination of the grid's values into a :class:`RunSpec`, in a fixed order, and
fails naming the clash when two runs would share a name or two presets a file. Changed lengths make a
derived group and model fields or training fields without an ``interp.train`` flag a derived size preset;
their TOML is written under the sweep's output directory (``groups/``, ``models/``) before runs start.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.config import RunConfig, TrainConfig, check_context, load_size_preset
from interp.errors import InterpError
from interp.groups import TaskGroup, load_group
from interp.model import ModelConfig
from interp.storage import write_text
from interp.sweep.grid import MODEL_FIELDS, TRAINING_FIELDS, Grid
from interp.tasks import default_tokens

TRAINING_FLAGS = ("steps", "batch_size", "lr", "eval_every", "checkpoint_every")
"""Training fields ``interp.train`` takes as flags; the others go into a derived size preset."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}")


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


def write_derived_presets(runs: Iterable[RunSpec]) -> None:
    """Write the derived group and size presets the runs train from (unchanged ones are left alone)."""
    for file in {file.path: file for run in runs for file in run.files}.values():
        if not file.path.is_file() or file.path.read_text() != file.text:
            write_text(file.path, file.text)
