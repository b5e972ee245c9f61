"""Task registry and the vectorised assembly of examples (SPEC §2–§3).

A task is one decorated function that draws a batch of examples as token-id *pieces* (numpy arrays,
one row per example, each with its own length): the body of the prompt and the target. The
:class:`Task` wrapper adds the fixed frame ``<bos> T BODY T TARGET <eos>`` and lays every row out in one
right-padded array, without a Python loop over examples, so that data generation never holds training
back (``benchmarks/data_throughput.py``).

Sampling (SPEC §3): with ``exact=False`` (train) the task draws its length(s) uniformly up to the given
maximum; with ``exact=True`` (test) every example has exactly the given length. Both are deterministic
given the numpy ``Generator``; :func:`stable_rng` derives generators from seeds and names in a way that
is identical across processes and platforms (no ``hash()``).

Adding a task::

    @register_task("double", domain="strings", description="each character twice")
    def double(rng, count, length, exact):
        s, n = draw_strings(rng, count, length, exact)
        return Layout(body=[Piece(s, n), EQUALS], target=[...], length=n)

plus a property test in ``tests/test_tasks.py`` that recomputes the target independently.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from interp.errors import InterpError
from interp.vocab import BASE_TOKENS, BOS, EOS, PAD, SYMBOL_ID

DOMAINS = ("arithmetic", "strings", "mazes")
LENGTH_LIMIT = 4096
"""The longest length of a task without its own maximum that any command accepts: sequences 4-13 times the
largest context of the presets (1024), and a bound on what ``--length`` or ``--lengths`` may ask to build."""


def stable_rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded by ``parts`` (ints and names), the same in every process."""
    words = [zlib.crc32(part.encode()) if isinstance(part, str) else int(part) for part in parts]
    if any(word < 0 for word in words):
        raise InterpError(f"seeds must be non-negative integers, got {parts}")
    return np.random.default_rng(words)


@dataclass(frozen=True)
class Piece:
    """One segment of every row: ``tokens[b, :lengths[b]]`` (all columns when ``lengths`` is None).

    ``scored`` marks which of its tokens count for loss and exact match: a bool for all of them, or a
    boolean array shaped like ``tokens``.
    """

    tokens: np.ndarray
    lengths: np.ndarray | None = None
    scored: bool | np.ndarray = False

    def row_lengths(self, count: int) -> np.ndarray:
        if self.lengths is None:
            return np.full(count, self.tokens.shape[1], dtype=np.int64)
        return self.lengths.astype(np.int64, copy=False)


def symbol(text: str, count: int, scored: bool = False) -> Piece:
    """A piece holding the same symbol(s) in every row, e.g. ``symbol('=', B)``."""
    ids = np.array([SYMBOL_ID[char] for char in text], dtype=np.int64)
    return Piece(np.broadcast_to(ids, (count, len(ids))), scored=scored)


@dataclass(frozen=True)
class Layout:
    """What a task function returns: the prompt body, the target, and each example's length n."""

    body: list[Piece]
    target: list[Piece]
    length: np.ndarray


@dataclass(frozen=True)
class Examples:
    """A batch of examples of one task as token ids, right-padded with ``<pad>``.

    Row ``b`` is ``<bos> T BODY T TARGET <eos>``: the target occupies
    ``tokens[b, target_start[b] : end[b] - 1]`` and ``<eos>`` sits at ``end[b] - 1``. ``scored`` is True on
    the positions that loss and exact match look at (every target token but the ``mqar`` keys, and
    ``<eos>``); the logits that predict position p are those at p − 1.
    """

    tokens: np.ndarray
    scored: np.ndarray
    target_start: np.ndarray
    end: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)

    def take(self, rows: np.ndarray | slice) -> Examples:
        tokens = self.tokens[rows]
        width = int(self.end[rows].max()) if len(tokens) else 0
        return Examples(
            tokens[:, :width], self.scored[rows][:, :width], self.target_start[rows], self.end[rows],
            self.length[rows],
        )


@dataclass(frozen=True)
class Task:
    """A registered task: its name and token, domain, length limits and example builder."""

    name: str
    domain: str
    description: str
    build: Callable[[np.random.Generator, int, int, bool], Layout] = field(repr=False)
    token_id: int
    min_length: int = 1
    max_length: int | None = None

    @property
    def longest(self) -> int:
        """The longest length accepted: the task's own maximum, else :data:`LENGTH_LIMIT`."""
        return LENGTH_LIMIT if self.max_length is None else self.max_length

    def accepts(self, length: int) -> bool:
        return isinstance(length, (int, np.integer)) and self.min_length <= length <= self.longest

    def check_length(self, length: int) -> None:
        if not self.accepts(length):
            raise InterpError(f"length {length} is outside [{self.min_length}, {self.longest}] for task {self.name!r}")

    def sample(self, rng: np.random.Generator, count: int, length: int, exact: bool) -> Examples:
        """``count`` examples: length uniform in [min_length, length] (train) or exactly ``length`` (test)."""
        self.check_length(length)
        if count < 1:
            raise InterpError(f"count must be at least 1, got {count}")
        layout = self.build(rng, count, int(length), exact)
        return assemble(self.token_id, layout, count)

    def sample_train(self, rng: np.random.Generator, count: int, max_length: int) -> Examples:
        return self.sample(rng, count, max_length, exact=False)

    def sample_test(self, rng: np.random.Generator, count: int, length: int) -> Examples:
        return self.sample(rng, count, length, exact=True)


TASKS: dict[str, Task] = {}


def register_task(
    name: str, *, domain: str, description: str, min_length: int = 1, max_length: int | None = None
) -> Callable[[Callable[[np.random.Generator, int, int, bool], Layout]], Task]:
    """Register ``fn(rng, count, length, exact) -> Layout`` as task ``name`` (token ``<name>``)."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}")

    def decorator(build: Callable[[np.random.Generator, int, int, bool], Layout]) -> Task:
        if name in TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        task = Task(name, domain, description, build, len(BASE_TOKENS) + len(TASKS), min_length, max_length)
        TASKS[name] = task
        return task

    return decorator


def get_task(name: str) -> Task:
    """The registered task ``name``; an unknown name raises listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise InterpError(f"unknown task {name!r} (known: {', '.join(TASKS)})") from None


def assemble(task_id: int, layout: Layout, count: int) -> Examples:
    """Lay ``<bos> T BODY T TARGET <eos>`` out for every row, right-padded, with the scored mask."""
    frame = np.full((count, 1), task_id, dtype=np.int64)
    pieces = [
        Piece(np.full((count, 1), BOS, dtype=np.int64)),
        Piece(frame),
        *layout.body,
        Piece(frame),
        *layout.target,
        Piece(np.full((count, 1), EOS, dtype=np.int64), scored=True),
    ]
    lengths = np.stack([piece.row_lengths(count) for piece in pieces])
    starts = np.concatenate([np.zeros((1, count), dtype=np.int64), np.cumsum(lengths, axis=0)])
    end = starts[-1]
    width = int(end.max())
    tokens = np.full((count, width), PAD, dtype=np.int64)
    scored = np.zeros((count, width), dtype=bool)
    rows = np.arange(count)[:, None]
    for piece, start, length in zip(pieces, starts, lengths, strict=False):
        columns = np.arange(piece.tokens.shape[1])
        if piece.lengths is None:  # the same span in every row: a plain strided write
            target_columns = start[:, None] + columns
            tokens[rows, target_columns] = piece.tokens
            if piece.scored is not False:
                scored[rows, target_columns] = piece.scored
            continue
        inside = columns < length[:, None]
        row_index, column_index = np.nonzero(inside)
        target_columns = start[row_index] + column_index
        tokens[row_index, target_columns] = piece.tokens[row_index, column_index]
        if isinstance(piece.scored, np.ndarray):
            scored[row_index, target_columns] = piece.scored[row_index, column_index]
        elif piece.scored:
            scored[row_index, target_columns] = True
    target_start = starts[3 + len(layout.body)]
    return Examples(tokens, scored, target_start, end, layout.length.astype(np.int64))
