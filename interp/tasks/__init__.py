"""Every task of SPEC §3, registered on import, and the vocabulary they make (SPEC §2).

The registration order fixes the task tokens' ids (each follows the fixed tokens of :mod:`interp.vocab`, in
the order tasks register): append new tasks.
"""

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
from interp.vocab import BASE_TOKENS, Tokenizer, task_token, tokenizer_for

__all__ = ["LENGTH_LIMIT", "TASKS", "Examples", "Layout", "Piece", "Task", "check_compatible", "default_tokenizer",
           "default_tokens", "get_task", "register_task", "stable_rng"]


def default_tokens() -> tuple[str, ...]:
    """Every token of the current code: the fixed ones, then one task token per registered task, in order."""
    return BASE_TOKENS + tuple(task_token(name) for name in TASKS)


def default_tokenizer() -> Tokenizer:
    return Tokenizer(default_tokens())


def check_compatible(saved_tokens: tuple[str, ...] | list[str]) -> Tokenizer:
    """The tokenizer for a run saved with ``saved_tokens``; refuses one this code would read differently."""
    return tokenizer_for(saved_tokens, default_tokens())
