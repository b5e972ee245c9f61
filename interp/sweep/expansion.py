"""A grid's runs: names, resolved configs, the ``interp.train`` arguments that give them, derived presets.

:func:`expand` turns every combination of the grid's values into a :class:`RunSpec`, in a fixed order, and
fails naming the clash when two runs would share a name or two presets a file. Changed lengths make a
derived group and model fields or training fields without an ``interp.train`` option a derived size preset;
their TOML is written under the sweep's output directory (``groups/``, ``models/``) before runs start. The
other settings go on ``interp.train``'s command line, with the options its own parser declares
(:func:`train_options`), and the run's config applies them as ``interp.train`` does.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.config import RunConfig, TrainConfig, check_context, load_size_preset, override_presets
from interp.errors import InterpError
from interp.groups import TaskGroup, load_group
from interp.model import ModelConfig
from interp.storage import write_text
from interp.sweep.grid import MODEL_FIELDS, TRAINING_FIELDS, Grid
from interp.train import build_parser as train_parser

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
    """The config the run must have, the ``interp.train`` arguments that give it, and the files they need.

    Settings ``interp.train`` has an option for go on its command line, and the config applies them as
    ``interp.train`` does (:func:`interp.config.override_presets`); presets changed by the others are written."""
    size_preset, model_argument, files = derive_size_preset(preset_argument(settings["model"], grid), settings, out)
    group_argument = preset_argument(settings["group"], grid)
    if group != base_group:
        group_argument = str(out / "groups" / f"{group.name}.toml")
        files.append(DerivedFile(Path(group_argument), group_toml(group, base_group)))
    overrides = {"seed": settings["seed"], "data_seed": settings.get("data_seed", 0),
                 "positional": settings.get("positional"),
                 **{key: settings[key] for key in TRAINING_FIELDS if key in settings and key in train_options()}}
    config = override_presets(size_preset, group, **overrides)
    given = {"model": model_argument, "group": group_argument, **overrides}
    args = [part for key, option in train_options().items() if given.get(key) is not None
            for part in (option, str(given[key]))]
    return config, tuple(args), tuple(files)


@functools.cache
def train_options() -> dict[str, str]:
    """``interp.train``'s option for each setting it takes (``data_seed``: ``--data-seed``), in its order, read
    from its own parser: a training field it gains an option for is passed as that option from then on."""
    return {action.dest: max(action.option_strings, key=len) for action in train_parser()._actions
            if action.option_strings}  # argparse lists a parser's options only in _actions


def derive_size_preset(
    model_argument: str, settings: dict[str, Any], out: Path,
) -> tuple[tuple[str, ModelConfig, TrainConfig], str, list[DerivedFile]]:
    """The run's size preset and the ``--model`` argument for it: the named one, or one derived from it with the
    run's model fields and the training fields ``interp.train`` has no option for, written to ``OUT/models/``."""
    name, model, training = load_size_preset(model_argument)
    model_changes = {key: settings[key] for key in MODEL_FIELDS if key in settings}
    preset_training = {key: settings[key] for key in TRAINING_FIELDS if key in settings and key not in train_options()}
    if not (model_changes or preset_training):
        return (name, model, training), model_argument, []
    changes = {**model_changes, **preset_training}
    name = "-".join([name, *(f"{key}{format_value(value)}" for key, value in changes.items())])
    model = ModelConfig.from_dict({**model.to_dict(), **model_changes}, "[model] fields")
    training = training.replace(**preset_training)
    path = out / "models" / f"{name}.toml"
    return (name, model, training), str(path), [DerivedFile(path, size_preset_toml(name, model, training))]


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
