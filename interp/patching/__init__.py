"""Activation patching and attribution patching of attention heads (SPEC §7).

    python -m interp.patching --run DIR [...]   (interp.head_overlap's patching methods alone, into analysis/patching/)

Clean and corrupted inputs. For a set of clean test examples of one task and length, the corrupted input
of row b is another example of the same task and length (other operands, string or maze, drawn with
another seed), so its prompt has the same length and layout; its answer positions carry the *clean*
target, teacher-forced in both runs, so position p means the same in both and the clean answer can be
scored on either. :func:`corrupted_examples` refuses a pair whose prompt lengths differ. For mazes the
prompts have the same length but the adjacency entries sit at other positions (node degrees differ):
"layout" there means the frame, not every separator.

Exact patching. For each head, the corrupted run is repeated with that head's clean ``hook_z`` patched in
at every position; the metric is the mean clean-answer log-probability (per example, the mean over its
scored positions). Normalised recovery

    (patched − corrupted) / (clean − corrupted)

is 0 when the head carries nothing of the clean answer and 1 when patching it alone restores the clean
run. It is computed from the means over examples (a ratio of means, stable where per-example ratios are
not). Pitfall: when clean and corrupted score the clean answer about equally (|clean − corrupted| below
:data:`MIN_LOGPROB_GAP` nats, e.g. a model that ignores the prompt, or fails on both) the ratio is
meaningless and is reported as NaN. The batched engine is :func:`interp.ablation.replace_heads` with the
corrupted input as the base run and the clean values as the replacement; a test holds it equal to
``transformer_lens.patching.get_act_patch_attn_head_out_all_pos``.

Attribution patching (Nanda, "Attribution Patching", 2023; Syed et al., arXiv 2310.10348): one forward
and one backward pass on the corrupted input give, per head and example, the first-order estimate
Σ_{pos, d} (z_clean − z_corrupted) · ∂ logprob / ∂ z of the change that patching the head would make; it
is normalised like exact patching and its agreement with exact patching (Spearman ρ over heads) is
reported next to it. It is linear, so it misses saturation (a head whose patch overshoots or whose effect
runs through a softmax that is already saturated).

Cai et al., "Extrapolation by Association: Length Generalization Transfer in Transformers" (arXiv
2506.09251) use ablation only; patching is this suite's second, independent way to locate the heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.hook_points import HookPoint
from transformer_lens.utilities import get_act_name

from interp.ablation import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_ROWS,
    HeadScores,
    answer_logprob,
    chunks,
    head_outputs,
    replace_heads,
    replace_heads_loop,
)
from interp.errors import InterpError
from interp.tasks import Examples, get_task, stable_rng

MIN_LOGPROB_GAP = 0.01
"""Below this |clean − corrupted| mean log-prob gap (nats) normalised recovery is NaN."""


def corrupted_examples(clean: Examples, task: str, seed: int) -> Examples:
    """Other prompts of ``task`` at the clean examples' length, each followed by the clean target."""
    lengths = np.unique(clean.length)
    if len(lengths) != 1:
        raise InterpError(f"patching needs examples of one length, got lengths {lengths.tolist()}")
    length = int(lengths[0])
    other = get_task(task).sample_test(stable_rng(seed, "corrupt", task, length), len(clean), length)
    return splice_prompts(clean, other, f"{task} at length {length}")


def splice_prompts(clean: Examples, other: Examples, what: str) -> Examples:
    """``other``'s prompts with ``clean``'s targets; the prompts must have the same length row by row."""
    if len(other) != len(clean) or not np.array_equal(other.target_start, clean.target_start):
        raise InterpError(f"{what}: the corrupted prompts do not have the clean prompts' layout (prompt lengths "
                          f"{sorted(set(other.target_start.tolist()))} vs {sorted(set(clean.target_start.tolist()))}); "
                          "patching needs inputs of the same length and layout")
    prompt_width = int(clean.target_start.max())
    prompt = np.arange(prompt_width) < clean.target_start[:, None]
    tokens = clean.tokens.copy()
    tokens[:, :prompt_width][prompt] = other.tokens[:, :prompt_width][prompt]
    return Examples(tokens, clean.scored.copy(), clean.target_start.copy(), clean.end.copy(), clean.length.copy())


@dataclass(frozen=True)
class PatchingResult:
    """Clean, corrupted and per-head patched mean clean-answer log-probs, per example."""

    clean_logprob: Float[np.ndarray, " example"]
    corrupted_logprob: Float[np.ndarray, " example"]
    patched_logprob: Float[np.ndarray, "layer head example"] | None
    attribution: Float[np.ndarray, "layer head example"] | None
    """Attribution patching's estimate of patched − corrupted, per head and example."""

    def gap(self, rows: np.ndarray | slice = slice(None)) -> float:
        """Mean clean − mean corrupted log-prob of the clean answer."""
        return float(self.clean_logprob[rows].mean() - self.corrupted_logprob[rows].mean())

    def recovery(self, rows: np.ndarray | slice = slice(None)) -> Float[np.ndarray, "layer head"]:
        """Normalised recovery of exact patching (NaN where the gap is below :data:`MIN_LOGPROB_GAP`)."""
        if self.patched_logprob is None:
            raise ValueError("exact patching was not run")
        return self.normalise(self.patched_logprob[..., rows].mean(-1) - self.corrupted_logprob[rows].mean(), rows)

    def attribution_recovery(self, rows: np.ndarray | slice = slice(None)) -> Float[np.ndarray, "layer head"]:
        """Attribution patching's estimate of the normalised recovery."""
        if self.attribution is None:
            raise ValueError("attribution patching was not run")
        return self.normalise(self.attribution[..., rows].mean(-1), rows)

    def normalise(self, change: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        gap = self.gap(rows)
        return change / gap if abs(gap) >= MIN_LOGPROB_GAP else np.full_like(change, np.nan)


def patch_heads(
    model: HookedTransformer, clean: Examples, corrupted: Examples, exact: bool = True, attribution: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE, max_rows: int = DEFAULT_MAX_ROWS, batched: bool = True,
) -> PatchingResult:
    """Patch each head's clean output into the corrupted run (exact and/or attribution patching)."""
    if not np.array_equal(clean.scored, corrupted.scored) or clean.tokens.shape != corrupted.tokens.shape:
        raise InterpError("clean and corrupted examples must have the same answer positions")
    if not (exact or attribution):
        raise ValueError("choose exact patching, attribution patching or both")
    device = model.cfg.device
    engine = replace_heads if batched else replace_heads_loop
    clean_logprob, corrupted_logprob, patched, attributed = [], [], [], []
    for rows, tokens, scored in chunks(clean, batch_size, device):
        corrupted_tokens = torch.as_tensor(corrupted.tokens[rows], device=device)
        with torch.no_grad():
            logits, clean_outputs = head_outputs(model, tokens)
        clean_logprob.append(answer_logprob(logits, tokens, scored).double().cpu().numpy())
        if exact:
            scores: HeadScores = engine(model, corrupted_tokens, scored, [lambda layer, values=clean_outputs: values[layer]],
                                        max_rows)[0]
            patched.append(scores.logprob)
        if attribution:
            base, estimate = attribution_scores(model, corrupted_tokens, scored, clean_outputs)
            attributed.append(estimate)
            corrupted_logprob.append(base)
        else:
            corrupted_logprob.append(scores.base_logprob)
    return PatchingResult(np.concatenate(clean_logprob), np.concatenate(corrupted_logprob),
                          np.concatenate(patched, axis=-1) if exact else None,
                          np.concatenate(attributed, axis=-1) if attribution else None)


def attribution_scores(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"], scored: Bool[Tensor, "batch pos"],
    clean_outputs: Sequence[Float[Tensor, "batch pos head d_head"]],
) -> tuple[Float[np.ndarray, " batch"], Float[np.ndarray, "layer head batch"]]:
    """The corrupted run's clean-answer log-prob and, per head, Σ (z_clean − z) · ∂logprob/∂z per example.

    The embedding output is made a leaf that requires grad, so gradients flow whatever the parameters'
    ``requires_grad``; ``torch.autograd.grad`` leaves parameter ``.grad`` untouched.
    """
    outputs: list[Tensor] = []

    def leaf(embedding: Tensor, hook: HookPoint) -> Tensor:
        return embedding.detach().requires_grad_(True)

    def keep(z: Tensor, hook: HookPoint) -> Tensor:
        outputs.append(z)
        return z

    hooks = [(get_act_name("embed"), leaf)] + [(get_act_name("z", layer), keep) for layer in range(model.cfg.n_layers)]
    with torch.enable_grad(), model.hooks(fwd_hooks=hooks):
        logprob = answer_logprob(model(tokens), tokens, scored)
        gradients = torch.autograd.grad(logprob.sum(), outputs)
    estimate = torch.stack([((clean - z.detach()) * gradient).sum(dim=(1, 3))
                            for clean, z, gradient in zip(clean_outputs, outputs, gradients)])  # layer batch head
    return logprob.detach().double().cpu().numpy(), estimate.permute(0, 2, 1).double().cpu().numpy()
