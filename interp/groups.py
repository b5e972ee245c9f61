"""Task groups (SPEC §4): a main task trained up to L_main and auxiliary tasks trained up to L_aux.

A group is a TOML preset in ``models/groups/`` parsed once into a frozen :class:`TaskGroup`, validated at
the edge (unknown task, empty group, bad lengths each give one line naming the accepted values) and saved
in every run's ``config.json``. ``kind`` says what the group is for in the paper's design: ``transfer``
(a related auxiliary task), ``control`` (an unrelated one, expected not to transfer) or ``baseline``
(the main task alone).

Evaluation lengths (SPEC §6) run from each task's minimum to 1.25× the group's largest training length,
capped at the task's own maximum (64 nodes for mazes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.presets import check_keys, load_preset
from interp.tasks import get_task

GROUP_KINDS = ("transfer", "control", "baseline")
EVAL_LENGTH_FACTOR = 1.25


@dataclass(frozen=True)
class TaskSpec:
    """One task of a group and the largest length it is trained at."""

    task: str
    max_length: int


@dataclass(frozen=True)
class TaskGroup:
    name: str
    main: TaskSpec
    aux: tuple[TaskSpec, ...] = ()
    kind: str = "transfer"
    description: str = ""

    @property
    def specs(self) -> tuple[TaskSpec, ...]:
        return (self.main, *self.aux)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(spec.task for spec in self.specs)

    @property
    def aux_length(self) -> int:
        """The largest auxiliary training length (the main one for a baseline)."""
        return max((spec.max_length for spec in self.aux), default=self.main.max_length)

    def spec(self, task: str) -> TaskSpec:
        for spec in self.specs:
            if spec.task == task:
                return spec
        raise InterpError(f"task {task!r} is not in group {self.name!r} (its tasks: {', '.join(self.task_names)})")

    def role(self, task: str) -> str:
        return "main" if task == self.main.task else "aux"

    def eval_lengths(self, task: str) -> list[int]:
        """Lengths from the task's minimum to 1.25× the group's largest training length (SPEC §6)."""
        definition = get_task(task)
        top = math.ceil(EVAL_LENGTH_FACTOR * max(spec.max_length for spec in self.specs))
        return list(range(definition.min_length, min(top, definition.longest) + 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, table: dict[str, Any], name: str) -> TaskGroup:
        """Parse and validate a group table (a preset file's contents or a saved config)."""
        where = f"group {name!r}"
        check_keys(table, {"name", "main", "aux", "kind", "description"}, where)
        if not table.get("main"):
            raise InterpError(f"{where} is empty: it needs a [main] table with task and max_length")
        kind = table.get("kind", "transfer")
        if kind not in GROUP_KINDS:
            raise InterpError(f"{where}: kind {kind!r} is not one of {', '.join(GROUP_KINDS)}")
        aux = table.get("aux", [])
        if not isinstance(aux, list):
            raise InterpError(f"{where}: aux must be a list of [[aux]] tables")
        specs = [parse_spec(entry, where) for entry in [table["main"], *aux]]
        names = [spec.task for spec in specs]
        if len(set(names)) != len(names):
            raise InterpError(f"{where}: a task appears twice ({', '.join(names)})")
        return cls(name, specs[0], tuple(specs[1:]), kind, str(table.get("description", "")))


def parse_spec(entry: Any, where: str) -> TaskSpec:
    if not isinstance(entry, dict):
        raise InterpError(f"{where}: each task entry is a table with task and max_length")
    check_keys(entry, {"task", "max_length"}, where)
    if "task" not in entry or "max_length" not in entry:
        raise InterpError(f"{where}: each task entry needs both task and max_length")
    task = get_task(str(entry["task"]))
    length = entry["max_length"]
    if isinstance(length, bool) or not task.accepts(length):
        raise InterpError(
            f"{where}: max_length {length!r} for task {task.name!r} is outside the accepted range "
            f"[{task.min_length}, {task.longest}]"
        )
    return TaskSpec(task.name, length)


def load_group(name_or_path: str | Path) -> TaskGroup:
    """The group preset ``name_or_path`` (a name in ``models/groups/`` or a ``.toml`` file), validated."""
    name, table = load_preset("group", name_or_path)
    return TaskGroup.from_dict(table, name)
