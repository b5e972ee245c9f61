"""Every task of SPEC §3, registered on import. The order fixes the task tokens' ids: append new tasks."""

# isort: off
from interp.tasks import arithmetic  # noqa: F401
from interp.tasks import strings  # noqa: F401
from interp.tasks import mazes  # noqa: F401

# isort: on
from interp.tasks.base import (
    LENGTH_LIMIT,
    TASKS,
    Examples,
    Layout,
    Piece,
    Task,
    get_task,
    register_task,
    stable_rng,
)

__all__ = ["LENGTH_LIMIT", "TASKS", "Examples", "Layout", "Piece", "Task", "get_task", "register_task", "stable_rng"]
