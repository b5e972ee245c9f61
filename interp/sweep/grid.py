"""The sweep file: a base experiment and the axes to vary (the package docstring describes the format).

:func:`load_grid` reads and checks it; every mistake is one line naming the file and the key. The axes are
the run's own settings (:data:`RUN_AXES`), every scalar ``[model]`` field but ``positional`` (an axis of its
own) and every scalar ``[training]`` field, each with the one type its values take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from interp.config import TrainConfig
from interp.errors import InterpError
from interp.model import ModelConfig
from interp.presets import check_keys, read_toml

SCALAR_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
MODEL_FIELDS = {field.name: SCALAR_TYPES[field.type] for field in fields(ModelConfig)
                if field.type in SCALAR_TYPES and field.name != "positional"}
TRAINING_FIELDS = {field.name: SCALAR_TYPES[field.type] for field in fields(TrainConfig) if field.type in SCALAR_TYPES}
RUN_AXES = {"group": str, "main_length": int, "aux_length": int, "model": str, "positional": str,
            "seed": int, "data_seed": int}
AXES = {**RUN_AXES, **MODEL_FIELDS, **TRAINING_FIELDS}
EXPANSION_ORDER = ("seed", "data_seed", "group", "main_length", "aux_length", "model", "positional",
                   *MODEL_FIELDS, *TRAINING_FIELDS)
"""The grid's product runs over the axes in this order: seed-major."""


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
