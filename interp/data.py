"""The data pipeline: task mixtures, batches as tensors, fixed test sets.

Training batches. Every example's task is drawn uniformly from the group (1:1:1 for three tasks, SPEC §4)
and its length uniformly in the task's training range. Batch ``step`` is a pure function of
``(data_seed, step)``, so a resumed run sees exactly the batches an uninterrupted one would: the data
stream's state *is* the step counter. The data seed is separate from the model seed (SPEC §5: seeds vary
the initialisation, not the data).

Padding. Rows are right-padded with ``<pad>`` to the batch's longest row rounded up to one of a few fixed
bucket widths, so a compiled model sees few shapes. Training lengths are uniform, so one width for the
whole batch wastes much of it on padding. A plan says how the trainer
lays a batch out, always holding exactly the batch's examples:

- :class:`PackPlan` (the fast path, ``interp.model.fast_logits``): :func:`pack` puts several examples in a
  row of the bucket width (or a minimum width), best fit by decreasing length, each with its own positions
  and attention confined to it, so every example gets the logits it would get alone (up to the order of
  float sums). One call per step, with little padding; for static shapes the row count is rounded up to a
  multiple and capped (few graphs; a rare batch over the cap runs as several parts of the cap).
- :class:`PartPlan` (the hooked forward, which takes plain rows only): :func:`split_by_width` cuts the batch,
  sorted by row length, into up to four parts each padded to its own width (``WIDTH_PARTS``), or keeps it
  whole (``WHOLE_BATCH``). Parts pay on the CPU and not on a GPU (benchmarks/RESULTS.md).

The trainer sums the losses of a batch's parts over its scored tokens, so the step is the same step (up to
the order of float sums). ``padding_share`` reports the fraction of pad tokens.

Test sets. ``evaluation_set(task, length, count, seed)`` is a fixed, seeded set of examples of exactly one
length, the same in every process (``stable_rng``).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np
import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.errors import InterpError
from interp.groups import TaskGroup
from interp.tasks import Examples, get_task, stable_rng
from interp.vocab import PAD

BUCKET_WIDTHS = (32, 64, 96, 128, 192, 256, 384, 512)
"""Batch widths a batch is padded up to; beyond the last, widths are multiples of 128."""


def bucket_width(width: int) -> int:
    for bucket in BUCKET_WIDTHS:
        if width <= bucket:
            return bucket
    return -(-width // 128) * 128


SomeBatch = TypeVar("SomeBatch", bound="BatchTensors")


class BatchTensors:
    """What every batch layout shares: its tensor fields, then ``real_tokens`` (the non-pad token count)."""

    tokens: Tensor
    real_tokens: int

    @property
    def padding_share(self) -> float:
        return 1.0 - self.real_tokens / self.tokens.numel()

    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(getattr(self, field.name) for field in fields(self) if field.name != "real_tokens")

    def to(self: SomeBatch, device: torch.device | str, non_blocking: bool = False) -> SomeBatch:
        return type(self)(*(t.to(device, non_blocking=non_blocking) for t in self.tensors()), self.real_tokens)


@dataclass(frozen=True)
class Batch(BatchTensors):
    """A padded batch as tensors. ``scored[b, p]`` marks target position p (predicted by logits p − 1)."""

    tokens: Int[Tensor, "batch pos"]
    scored: Bool[Tensor, "batch pos"]
    task_index: Int[Tensor, " batch"]
    length: Int[Tensor, " batch"]
    real_tokens: int

    def rows(self, rows: Tensor, width: int) -> Batch:
        """The given rows, cut to ``width`` columns."""
        tokens = self.tokens[rows, :width]
        return Batch(tokens, self.scored[rows, :width], self.task_index[rows], self.length[rows],
                     int((tokens != PAD).sum()))

    def token_tasks(self) -> Int[Tensor, "batch pos"]:
        """The task index of every token (its row's)."""
        return self.task_index[:, None].expand_as(self.tokens)

    def model_inputs(self) -> tuple[Tensor, ...]:
        """What the model takes after itself: ``fast_logits(model, *batch.model_inputs())``."""
        return (self.tokens,)


@dataclass(frozen=True)
class PackedBatch(BatchTensors):
    """A batch's examples packed several to a row (:func:`pack`): each token carries its position within its
    own example and its example's id, so attention stays within an example."""

    tokens: Int[Tensor, "rows pos"]
    scored: Bool[Tensor, "rows pos"]
    positions: Int[Tensor, "rows pos"]
    segments: Int[Tensor, "rows pos"]
    """Which example a token belongs to (its row in the unpacked batch); -1 for padding."""
    task_of_token: Int[Tensor, "rows pos"]
    real_tokens: int

    def token_tasks(self) -> Int[Tensor, "rows pos"]:
        return self.task_of_token

    def row_range(self, start: int, stop: int) -> PackedBatch:
        """Rows ``start … stop − 1`` (whole examples: none spans two rows)."""
        tokens = self.tokens[start:stop]
        return PackedBatch(*(t[start:stop] for t in self.tensors()), int((tokens != PAD).sum()))

    def model_inputs(self) -> tuple[Tensor, ...]:
        return self.tokens, self.positions, self.segments


def pack(batch: Batch, row_multiple: int = 1, min_width: int = 0) -> PackedBatch:
    """The batch's examples packed into rows of its bucket width (at least ``min_width``): by decreasing
    length, each into the fullest row it fits in (best fit decreasing).

    The row count is rounded up to a multiple of ``row_multiple`` (empty rows are padding), so a model
    compiled with static shapes meets few shapes. A pure function of the batch: a resumed run packs its
    batches exactly as an uninterrupted one does. Every example starts a fresh position count; its first
    token (``<bos>``) is never scored, so no loss crosses from one example into the next.
    """
    lengths = (batch.tokens != PAD).sum(1).numpy()
    width = bucket_width(max(int(lengths.max()), min_width))
    row_of, offset = [0] * len(lengths), [0] * len(lengths)
    rows = 0
    open_rows: list[tuple[int, int]] = []  # (free columns, row) of rows with room, sorted
    for example, length in sorted(enumerate(lengths.tolist()), key=lambda item: -item[1]):
        fit = bisect.bisect_left(open_rows, (length, -1))  # the fullest row it fits in
        if fit < len(open_rows):
            free, row = open_rows.pop(fit)
        else:
            free, row, rows = width, rows, rows + 1
        row_of[example], offset[example] = row, width - free
        if free > length:
            bisect.insort(open_rows, (free - length, row))
    rows = -(-rows // row_multiple) * row_multiple
    # every real token's source (example, column) and destination (row, column), as flat indices
    example_of_token = np.repeat(np.arange(len(lengths)), lengths)
    column = np.arange(len(example_of_token)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = example_of_token * batch.tokens.shape[1] + column
    destination = (np.array(row_of) * width + np.array(offset))[example_of_token] + column

    def laid_out(values: np.ndarray, fill: int) -> Tensor:
        out = np.full(rows * width, fill, dtype=values.dtype)
        out[destination] = values
        return torch.from_numpy(out.reshape(rows, width))

    tokens = laid_out(batch.tokens.numpy().ravel()[source], PAD)
    scored = laid_out(batch.scored.numpy().ravel()[source], False)
    positions = laid_out(column, 0)
    segments = laid_out(example_of_token, -1)
    task_of_token = laid_out(batch.task_index.numpy()[example_of_token], 0)
    return PackedBatch(tokens, scored, positions, segments, task_of_token, batch.real_tokens)


@dataclass(frozen=True)
class PartPlan:
    """How :func:`split_by_width` may cut a batch."""

    max_parts: int
    granularity: int | None
    """Part widths are multiples of this; ``None``: the fixed :data:`BUCKET_WIDTHS` (for compiled models)."""
    min_saving: float = 0.1
    """Cut only when that saves at least this fraction of the batch's padded tokens."""

    def width(self, length: int) -> int:
        return bucket_width(length) if self.granularity is None else -(-length // self.granularity) * self.granularity

    def cut(self, batch: Batch) -> list[Batch]:
        return split_by_width(batch, self)

    def __str__(self) -> str:
        return "whole batch" if self.max_parts == 1 else f"at most {self.max_parts} width parts"


@dataclass(frozen=True)
class PackPlan:
    """Pack the batch's examples several to a row (:func:`pack`), for the fast path (``interp.model.fast_logits``)."""

    row_multiple: int = 1
    """Round the row count up to a multiple of this (static shapes: few graphs)."""
    min_width: int = 0
    """Rows at least this wide (a bucket width): short examples leave less room unused in wider rows."""
    max_rows: int | None = None
    """At most this many rows a part (a multiple of ``row_multiple``): a rare batch that needs more is cut
    into parts of exactly ``max_rows`` rows, the last padded with empty rows, so that a model compiled with
    static shapes runs it twice at a shape it has instead of compiling another (:func:`interp.train.row_cap`)."""

    def cut(self, batch: Batch) -> list[PackedBatch]:
        packed = pack(batch, self.row_multiple, self.min_width)
        if self.max_rows is None or len(packed.tokens) <= self.max_rows:
            return [packed]
        packed = pack(batch, self.max_rows, self.min_width)
        return [packed.row_range(start, start + self.max_rows) for start in range(0, len(packed.tokens), self.max_rows)]

    def __str__(self) -> str:
        return ("packed rows" + (f", row count a multiple of {self.row_multiple}" if self.row_multiple > 1 else "")
                + (f", at most {self.max_rows} a part" if self.max_rows is not None else ""))


WHOLE_BATCH = PartPlan(max_parts=1, granularity=None)
"""The whole batch at its bucket width: one graph per bucket width for a model compiled with static shapes
(the compiled CUDA trainer's layout before packing; ``benchmarks/train_throughput.py --trainer-plans whole``)."""
WIDTH_PARTS = PartPlan(max_parts=4, granularity=8)
"""For a model that takes any shape (the hooked forward, eager): tighter widths; more than four parts cost
more in per-call overhead than they save."""


def split_by_width(batch: Batch, plan: PartPlan = WIDTH_PARTS) -> list[Batch]:
    """The batch as up to ``plan.max_parts`` sub-batches of similar row lengths, each padded to its own width.

    Rows are sorted by length and cut where the part width changes; the cuts with the fewest padded tokens
    (a dynamic programme over those boundaries) win if they save at least ``plan.min_saving`` of the
    batch's tokens, else the batch is returned whole (cut to its plan width). No part is smaller than an
    eighth of the batch, so none is too small to run efficiently.
    """
    count = len(batch.tokens)
    lengths = (batch.tokens != PAD).sum(1)
    order = torch.argsort(lengths, stable=True)
    widths = [plan.width(int(n)) for n in lengths[order]]
    smallest = count // 8
    edges = [0, *(i for i in range(1, count) if widths[i] != widths[i - 1] and smallest <= i <= count - smallest),
             count]
    # cheapest[m][j]: (padded tokens, cuts) for rows [0, edges[j]) in m parts of at least `smallest` rows.
    cheapest: list[dict[int, tuple[int, tuple[int, ...]]]] = [{0: (0, ())}]
    for _ in range(plan.max_parts):
        cheapest.append({})
        for j in range(1, len(edges)):
            options = [(cost + (edges[j] - edges[i]) * widths[edges[j] - 1], (*cuts, edges[i]) if i else cuts)
                       for i, (cost, cuts) in cheapest[-2].items() if i < j and edges[j] - edges[i] >= smallest]
            if options:
                cheapest[-1][j] = min(options)
    last = len(edges) - 1
    whole = count * widths[-1]
    best_cost, best_cuts = whole, ()
    for parts in cheapest[2:]:
        if last in parts and parts[last][0] < best_cost:
            best_cost, best_cuts = parts[last]
    if not best_cuts or best_cost > (1 - plan.min_saving) * whole:
        return [batch if widths[-1] == batch.tokens.shape[1] else batch.rows(torch.arange(count), widths[-1])]
    bounds = (0, *best_cuts, count)
    return [batch.rows(order[a:b], widths[b - 1]) for a, b in itertools.pairwise(bounds)]


def to_batch(examples: Examples, task_index: np.ndarray | int = 0, pad_to_bucket: bool = True) -> Batch:
    """Tensors of ``examples``, right-padded to a bucket width (or to the longest row)."""
    width = int(examples.end.max())
    padded = bucket_width(width) if pad_to_bucket else width
    tokens = np.full((len(examples), padded), PAD, dtype=np.int64)
    scored = np.zeros((len(examples), padded), dtype=bool)
    tokens[:, :width] = examples.tokens[:, :width]
    scored[:, :width] = examples.scored[:, :width]
    task_index = np.array(np.broadcast_to(task_index, (len(examples),)), dtype=np.int64)
    return Batch(
        torch.from_numpy(tokens),
        torch.from_numpy(scored),
        torch.from_numpy(task_index),
        torch.from_numpy(examples.length.copy()),
        int(examples.end.sum()),
    )


def merge(parts: list[Examples], rows: list[np.ndarray], count: int) -> Examples:
    """One :class:`Examples` holding ``parts[i]`` at rows ``rows[i]`` (widths may differ)."""
    width = max(int(part.end.max()) for part in parts)
    tokens = np.full((count, width), PAD, dtype=np.int64)
    scored = np.zeros((count, width), dtype=bool)
    target_start, end, length = (np.zeros(count, dtype=np.int64) for _ in range(3))
    for part, where in zip(parts, rows, strict=True):
        tokens[where, : part.tokens.shape[1]] = part.tokens
        scored[where, : part.scored.shape[1]] = part.scored
        target_start[where], end[where], length[where] = part.target_start, part.end, part.length
    return Examples(tokens, scored, target_start, end, length)


class MixtureSampler:
    """Training batches of a group: task uniform per example, length uniform in the task's range."""

    def __init__(self, group: TaskGroup, data_seed: int) -> None:
        self.group = group
        self.data_seed = data_seed
        self.tasks = [get_task(spec.task) for spec in group.specs]

    def examples(self, step: int, batch_size: int) -> tuple[Examples, np.ndarray]:
        """The examples of batch ``step`` and each row's task index (into ``group.specs``)."""
        rng = stable_rng(self.data_seed, "train", step)
        task_index = rng.integers(0, len(self.tasks), size=batch_size)
        parts, rows = [], []
        for index, (task, spec) in enumerate(zip(self.tasks, self.group.specs, strict=True)):
            where = np.flatnonzero(task_index == index)
            if len(where):
                parts.append(task.sample_train(rng, len(where), spec.max_length))
                rows.append(where)
        return merge(parts, rows, batch_size), task_index

    def batch(self, step: int, batch_size: int) -> Batch:
        examples, task_index = self.examples(step, batch_size)
        return to_batch(examples, task_index)

    def parts(self, step: int, batch_size: int, plan: PartPlan | PackPlan = WIDTH_PARTS) -> list[Batch] | list[PackedBatch]:
        """Batch ``step`` as ``plan`` cuts it: width parts (:func:`split_by_width`) or packed rows (:func:`pack`)."""
        return plan.cut(self.batch(step, batch_size))


def iterate_batches(
    sampler: MixtureSampler, start_step: int, end_step: int, batch_size: int, plan: PartPlan | PackPlan = WIDTH_PARTS,
) -> Iterator[tuple[int, list[Batch] | list[PackedBatch]]]:
    """Batches ``start_step … end_step − 1``, each laid out by ``plan``, built in the caller's process.

    ``interp.batch_worker.batches_from_worker`` yields the same batches, built in a child process (for a
    GPU loop, which a batch thread would slow down by holding the GIL)."""
    for step in range(start_step, end_step):
        yield step, sampler.parts(step, batch_size, plan)


DEFAULT_TEST_SEED = 1234
DEFAULT_TEST_COUNT = 1024


def evaluation_set(task: str, length: int, count: int = DEFAULT_TEST_COUNT, seed: int = DEFAULT_TEST_SEED) -> Examples:
    """The fixed test examples of ``task`` at exactly ``length`` (the same in every process)."""
    return get_task(task).sample_test(stable_rng(seed, "test", task, length), count, length)


def fitting_evaluation_set(task: str, length: int, count: int, seed: int, n_ctx: int, advice: str = "") -> Examples:
    """:func:`evaluation_set`, refused in one line when its longest example does not fit a context of ``n_ctx``."""
    examples = evaluation_set(task, length, count, seed)
    if examples.end.max() > n_ctx:
        raise InterpError(f"{task} at length {length} needs {examples.end.max()} tokens but the model's context is "
                          f"{n_ctx}{advice}")
    return examples
