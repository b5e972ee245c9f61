"""Head ablation: which attention heads a task needs (SPEC §7; Cai et al., arXiv 2506.09251, §6).

    python -m interp.ablation --run DIR [...]   (interp.head_overlap's ablation methods alone, into analysis/ablation/)

For every head (layer l, head h) the head's output ``hook_z`` — its value-weighted sum, before ``W_O`` —
is replaced and the teacher-forced answer is scored again:

- ``zero``: by zeros;
- ``mean``: by its mean over the examples, per position; only rows that reach p count towards its mean.
  Where examples of one length share a layout (add, copy, …) position p means the same thing in every
  row; where answer widths vary with the value (mul, mqar, mazes) p holds different parts of the answer
  in different rows (for mul a digit in one, a ``+`` in another), and its mean mixes them;
- ``resample``: by its value on another example of the same set (a random derangement, so no example
  is its own donor).

Effects are *drops*, clean − ablated, so they are positive when the head matters: the drop in exact-match
accuracy (every scored answer token right, as in :mod:`interp.evaluate`) and the drop in the mean answer
log-probability (per example, the mean log p(target) over its scored positions). The paper's ablation
map is the mean-ablation accuracy drop per head; its reuse score is mean |map_A − map_B|
(:mod:`interp.reuse`).

Batching (:func:`replace_heads`). The clean run's residual stream is cached once; for layer l the batch is
repeated for several heads, each copy replaces a different head in ``hook_z`` of layer l, and the model
runs from ``start_at_layer=l`` on the cached ``resid_pre`` — the unablated prefix is never recomputed.
:func:`replace_heads_loop` is the plain reference (one full forward per head); tests hold the two equal.
The same engine patches activations (:mod:`interp.patching`): there the base run is the corrupted input
and the replacement is the clean run's value.

Pitfalls: mean ablation with a mean over one batch depends on the batch — here the mean is over the whole
set of one length, computed in a first pass, and resample donors are drawn over the whole set, so the
result does not depend on the chunk size. Accuracy drops are coarse (0/1 per example) and can be
negative (ablating a head can fix an example); the log-prob drop is the finer signal.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.hook_points import HookPoint
from transformer_lens.utilities import get_act_name

from interp.errors import InterpError
from interp.evaluate import scored_all_right
from interp.tasks import Examples

DEFAULT_BATCH_SIZE = 128
"""Examples per chunk."""
DEFAULT_MAX_ROWS = 512
"""Rows per forward pass when several heads share one (batch × heads per pass)."""

ReplacementFn = Callable[[int], Float[Tensor, "batch pos head d_head"]]
"""Given a layer, the values that replace each head's ``hook_z`` (one row per example of the chunk)."""


class AblationKind(enum.Enum):
    """What replaces a head's output."""

    ZERO = "zero"
    """Zeros: the head is removed; off-distribution when the head's typical output is far from 0."""
    MEAN = "mean"
    """The head's mean output per position over the examples of one length (the paper's ablation)."""
    RESAMPLE = "resample"
    """The head's output on another example of the same length: removes example-specific information only."""


@dataclass(frozen=True)
class HeadScores:
    """Scores of a base run and of every single-head replacement, per example (numpy, on the CPU)."""

    base_correct: Bool[np.ndarray, " example"]
    base_logprob: Float[np.ndarray, " example"]
    correct: Bool[np.ndarray, "layer head example"]
    logprob: Float[np.ndarray, "layer head example"]

    @classmethod
    def concatenate(cls, parts: Sequence[HeadScores]) -> HeadScores:
        return cls(*(np.concatenate([getattr(part, name) for part in parts], axis=-1)
                     for name in ("base_correct", "base_logprob", "correct", "logprob")))


@dataclass(frozen=True)
class AblationResult:
    """One ablation kind on one set of examples: clean and ablated scores per head and example."""

    kind: AblationKind
    scores: HeadScores

    def accuracy_drop(self, rows: np.ndarray | slice = slice(None)) -> Float[np.ndarray, "layer head"]:
        """Clean − ablated exact-match accuracy over ``rows`` (positive: the head matters)."""
        return self.scores.base_correct[rows].mean() - self.scores.correct[..., rows].mean(-1)

    def logprob_drop(self, rows: np.ndarray | slice = slice(None)) -> Float[np.ndarray, "layer head"]:
        """Clean − ablated mean answer log-probability over ``rows``."""
        return self.scores.base_logprob[rows].mean() - self.scores.logprob[..., rows].mean(-1)


def answer_scores(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"], scored: Bool[Tensor, "batch pos"],
) -> tuple[Bool[Tensor, " batch"], Float[Tensor, " batch"]]:
    """Exact match and mean log-probability of the scored answer tokens (logits at p − 1 predict p)."""
    correct = scored_all_right(logits.argmax(-1), tokens, scored)
    return correct, answer_logprob(logits, tokens, scored)


def answer_logprob(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"], scored: Bool[Tensor, "batch pos"],
) -> Float[Tensor, " batch"]:
    """Per example, the mean log p(target) over its scored positions (differentiable)."""
    logprobs = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
    mask = scored[:, 1:]
    return torch.where(mask, logprobs, 0.0).sum(1) / mask.sum(1)


def head_outputs(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"],
) -> tuple[Float[Tensor, "batch pos d_vocab"], list[Float[Tensor, "batch pos head d_head"]]]:
    """The logits and every layer's ``hook_z`` of one forward pass."""
    names = [get_act_name("z", layer) for layer in range(model.cfg.n_layers)]
    logits, cache = model.run_with_cache(tokens, names_filter=names)
    return logits, [cache[name] for name in names]


def head_mask(heads: Sequence[int], n_heads: int, device: torch.device) -> Bool[Tensor, "copy 1 1 head 1"]:
    """One-hot over heads: copy i of the batch replaces head ``heads[i]``."""
    mask = torch.zeros(len(heads), 1, 1, n_heads, 1, dtype=torch.bool, device=device)
    mask[torch.arange(len(heads)), 0, 0, torch.as_tensor(list(heads)), 0] = True
    return mask


@torch.no_grad()
def replace_heads(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"], scored: Bool[Tensor, "batch pos"],
    replacements: Sequence[ReplacementFn], max_rows: int = DEFAULT_MAX_ROWS,
) -> list[HeadScores]:
    """Score the base run and, for each replacement, every single-head replacement (batched).

    One forward caches ``resid_pre`` of every layer; then for layer l, ``g`` copies of the batch run
    from ``start_at_layer=l``, copy i with head ``h_i`` of layer l replaced.
    """
    cfg = model.cfg
    batch = tokens.shape[0]
    names = [get_act_name("resid_pre", layer) for layer in range(cfg.n_layers)]
    logits, cache = model.run_with_cache(tokens, names_filter=names)
    base = answer_scores(logits, tokens, scored)
    heads_per_pass = max(1, min(cfg.n_heads, max_rows // batch))
    results = []
    for replacement in replacements:
        correct = torch.empty(cfg.n_layers, cfg.n_heads, batch, dtype=torch.bool)
        logprob = torch.empty(cfg.n_layers, cfg.n_heads, batch)
        for layer in range(cfg.n_layers):
            values = replacement(layer).unsqueeze(0)
            resid = cache[names[layer]]
            for first in range(0, cfg.n_heads, heads_per_pass):
                heads = range(first, min(first + heads_per_pass, cfg.n_heads))
                mask = head_mask(heads, cfg.n_heads, tokens.device)

                def replace(z: Tensor, hook: HookPoint, mask: Tensor = mask, values: Tensor = values) -> Tensor:
                    copies = z.view(mask.shape[0], batch, *z.shape[1:])
                    return torch.where(mask, values, copies).view_as(z)

                with model.hooks(fwd_hooks=[(get_act_name("z", layer), replace)]):
                    out = model(resid.repeat(len(heads), 1, 1), start_at_layer=layer)
                right, mean_logprob = answer_scores(out, tokens.repeat(len(heads), 1), scored.repeat(len(heads), 1))
                correct[layer, heads.start:heads.stop] = right.view(len(heads), batch).cpu()
                logprob[layer, heads.start:heads.stop] = mean_logprob.view(len(heads), batch).cpu()
        results.append(to_scores(base, correct, logprob))
    return results


@torch.no_grad()
def replace_heads_loop(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"], scored: Bool[Tensor, "batch pos"],
    replacements: Sequence[ReplacementFn], max_rows: int = DEFAULT_MAX_ROWS,
) -> list[HeadScores]:
    """The plain reference for :func:`replace_heads`: one full forward pass per head (``max_rows`` unused)."""
    cfg = model.cfg
    base = answer_scores(model(tokens), tokens, scored)
    results = []
    for replacement in replacements:
        correct = torch.empty(cfg.n_layers, cfg.n_heads, tokens.shape[0], dtype=torch.bool)
        logprob = torch.empty(cfg.n_layers, cfg.n_heads, tokens.shape[0])
        for layer in range(cfg.n_layers):
            values = replacement(layer)
            for head in range(cfg.n_heads):

                def replace(z: Tensor, hook: HookPoint, head: int = head, values: Tensor = values) -> Tensor:
                    z = z.clone()
                    z[:, :, head] = values[:, :, head]
                    return z

                with model.hooks(fwd_hooks=[(get_act_name("z", layer), replace)]):
                    right, mean_logprob = answer_scores(model(tokens), tokens, scored)
                correct[layer, head], logprob[layer, head] = right.cpu(), mean_logprob.cpu()
        results.append(to_scores(base, correct, logprob))
    return results


def to_scores(base: tuple[Tensor, Tensor], correct: Tensor, logprob: Tensor) -> HeadScores:
    return HeadScores(base[0].cpu().numpy(), base[1].double().cpu().numpy(), correct.numpy(),
                      logprob.double().numpy())


def derangement(count: int, seed: int) -> Int[np.ndarray, " example"]:
    """A uniformly random cyclic permutation (Sattolo's algorithm): ``result[i] != i`` for every i."""
    if count < 2:
        raise InterpError("resample ablation needs at least 2 examples per length")
    rng = np.random.default_rng(seed)
    order = np.arange(count)
    for index in range(count - 1, 0, -1):
        other = int(rng.integers(0, index))
        order[index], order[other] = order[other], order[index]
    return order


@torch.no_grad()
def mean_head_outputs(
    model: HookedTransformer, examples: Examples, batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[Float[Tensor, "pos head d_head"]]:
    """Per layer, each head's mean ``hook_z`` per position over the examples that reach that position."""
    device = model.cfg.device
    sums: list[Tensor] = []
    reach = torch.zeros(examples.tokens.shape[1], device=device)
    for rows, tokens, _ in chunks(examples, batch_size, device):
        real = (torch.arange(tokens.shape[1], device=device) < torch.as_tensor(examples.end[rows], device=device)[:, None])
        _, outputs = head_outputs(model, tokens)
        weighted = [(z * real[:, :, None, None]).sum(0) for z in outputs]
        sums = weighted if not sums else [total + part for total, part in zip(sums, weighted)]
        reach += real.sum(0)
    return [total / reach.clamp(min=1)[:, None, None] for total in sums]


def chunks(
    examples: Examples, batch_size: int, device: torch.device | str,
):
    """``(rows, tokens, scored)`` per chunk of ``batch_size`` examples, every chunk at the set's full width."""
    for start in range(0, len(examples), batch_size):
        rows = np.arange(start, min(start + batch_size, len(examples)))
        yield (rows, torch.as_tensor(examples.tokens[rows], device=device),
               torch.as_tensor(examples.scored[rows], device=device))


def ablate_heads(
    model: HookedTransformer, examples: Examples, kinds: Sequence[AblationKind] = tuple(AblationKind),
    seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE, max_rows: int = DEFAULT_MAX_ROWS, batched: bool = True,
) -> dict[AblationKind, AblationResult]:
    """Ablate every head of ``model`` on ``examples`` (one task, one length) with each of ``kinds``.

    ``seed`` draws the resample donors; ``batched=False`` runs the plain per-head loop instead (same
    results, for tests and benchmarks).
    """
    kinds = tuple(AblationKind(kind) for kind in kinds)
    device = model.cfg.device
    means = mean_head_outputs(model, examples, batch_size) if AblationKind.MEAN in kinds else []
    donors = derangement(len(examples), seed) if AblationKind.RESAMPLE in kinds else None
    engine = replace_heads if batched else replace_heads_loop
    parts: dict[AblationKind, list[HeadScores]] = {kind: [] for kind in kinds}
    for rows, tokens, scored in chunks(examples, batch_size, device):
        donor_outputs = (head_outputs(model, torch.as_tensor(examples.tokens[donors[rows]], device=device))[1]
                         if donors is not None else [])
        replacements = [replacement(kind, model, tokens.shape, means, donor_outputs) for kind in kinds]
        for kind, scores in zip(kinds, engine(model, tokens, scored, replacements, max_rows)):
            parts[kind].append(scores)
    return {kind: AblationResult(kind, HeadScores.concatenate(parts[kind])) for kind in kinds}


def replacement(
    kind: AblationKind, model: HookedTransformer, token_shape: torch.Size, means: list[Tensor],
    donor_outputs: list[Tensor],
) -> ReplacementFn:
    """The values that replace ``hook_z`` for one chunk of ``token_shape`` (batch, pos)."""
    shape = (*token_shape, model.cfg.n_heads, model.cfg.d_head)
    if kind is AblationKind.ZERO:
        return lambda layer: torch.zeros(shape, device=model.cfg.device, dtype=model.embed.W_E.dtype)
    if kind is AblationKind.MEAN:
        return lambda layer: means[layer].expand(shape)
    return lambda layer: donor_outputs[layer]
