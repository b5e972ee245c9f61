"""Attention overlap between tasks (SPEC §7; Cai et al., arXiv 2506.09251, §6).

    python -m interp.attention --run DIR [...]   (interp.head_overlap's attention method alone, into analysis/attention/)

Per task, length and head, three summaries of the attention pattern ``hook_pattern`` (query × key):

- the *mean pattern* Ā over the examples (each query row averaged over the examples that reach it);
- the *focus* per example: 1 − the mean normalised entropy of the attention rows of the answer-predicting
  queries (the positions whose logits score a target token), entropy divided by log(#keys visible), so
  0 = uniform over everything visible and 1 = all weight on one token. This is the per-task,
  per-head scalar the suite maps (``"attention"`` maps of :mod:`interp.head_overlap`): it is
  non-negative and comparable across tasks of any layout;
- the *offset profile*: the attention mass of the answer-predicting queries as a function of the
  relative offset q − k (0 = the query itself), averaged over queries and examples, a distribution per
  head that does not depend on where things sit in the prompt.

Pair scores per head: the paper's Σ_{q,k} |Ā_A − Ā_B| (:func:`pattern_difference`), meaningful only when the
two tasks share a layout at that length (the same prompt and answer positions in every example — e.g.
add/nocarry/carry, or copy/reverse; :func:`shares_layout`), and, for any pair, the Jensen–Shannon distance
(base 2, in [0, 1]) between the offset profiles (:func:`offset_distance`).

Pitfalls: Σ|ΔĀ| grows with the sequence length (more entries), so compare it across checkpoints at fixed
lengths, not across lengths. Offset profiles of tasks of very different lengths differ partly because
longer sequences allow longer offsets; compare at shared lengths where possible (what
:func:`offset_distance` does when given per-length profiles with common lengths).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from scipy.spatial.distance import jensenshannon
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.utilities import get_act_name

from interp.ablation import DEFAULT_BATCH_SIZE, chunks
from interp.tasks import Examples


@dataclass(frozen=True)
class AttentionStats:
    """Attention summaries of one task at one length."""

    mean_pattern: Float[np.ndarray, "layer head query key"]
    focus: Float[np.ndarray, "layer head example"]
    offset_profile: Float[np.ndarray, "layer head offset"]
    layout: tuple[int, int] | None
    """(prompt length, sequence length) when every example has the same ones, else None."""
    tokens: Int[np.ndarray, " pos"]
    """The first example's tokens (labels for the mean pattern)."""


def answer_queries(scored: Bool[Tensor, "batch pos"]) -> Bool[Tensor, "batch pos"]:
    """Query positions whose logits predict a scored token (q such that q + 1 is scored)."""
    return torch.nn.functional.pad(scored[:, 1:], (0, 1))


def pattern_focus(
    pattern: Float[Tensor, "batch head query key"], queries: Bool[Tensor, "batch query"],
) -> Float[Tensor, "batch head"]:
    """1 − mean normalised entropy of the rows ``queries`` (causal: row q sees q + 1 keys)."""
    entropy = -(pattern * pattern.clamp(min=1e-30).log()).sum(-1)
    visible = torch.arange(1, pattern.shape[-1] + 1, device=pattern.device, dtype=pattern.dtype)
    normalised = entropy / visible.log().clamp(min=1e-30)
    weights = queries[:, None, :].to(pattern.dtype)
    return 1 - (normalised * weights).sum(-1) / weights.sum(-1).clamp(min=1)


def offset_mass(
    pattern: Float[Tensor, "batch head query key"], queries: Bool[Tensor, "batch query"],
) -> Float[Tensor, "head offset"]:
    """Σ over the rows ``queries`` of every example of the attention at offset q − k (not normalised)."""
    width = pattern.shape[-1]
    position = torch.arange(width, device=pattern.device)
    key = position[:, None] - position[None, :]  # [query, offset]
    by_offset = pattern.gather(-1, key.clamp(min=0).expand(*pattern.shape[:2], width, width))
    by_offset = by_offset * (key >= 0)
    return torch.einsum("bhqd,bq->hd", by_offset, queries.to(pattern.dtype))


@torch.no_grad()
def attention_stats(model: HookedTransformer, examples: Examples, batch_size: int = DEFAULT_BATCH_SIZE) -> AttentionStats:
    """Mean pattern, per-example focus and offset profile of every head on ``examples`` (one length)."""
    cfg = model.cfg
    width = examples.tokens.shape[1]
    names = [get_act_name("pattern", layer) for layer in range(cfg.n_layers)]
    pattern_sum = torch.zeros(cfg.n_layers, cfg.n_heads, width, width, dtype=torch.float64)
    offsets = torch.zeros(cfg.n_layers, cfg.n_heads, width, dtype=torch.float64)
    rows_reaching = torch.zeros(width, dtype=torch.float64)
    answer_rows = 0.0
    focus = []
    for rows, tokens, scored in chunks(examples, batch_size, cfg.device):
        _, cache = model.run_with_cache(tokens, names_filter=names)
        real = torch.arange(width, device=tokens.device) < torch.as_tensor(examples.end[rows], device=tokens.device)[:, None]
        queries = answer_queries(scored)
        patterns = [cache[name].double() for name in names]
        pattern_sum += torch.stack([(p * real[:, None, :, None]).sum(0) for p in patterns]).cpu()
        offsets += torch.stack([offset_mass(p, queries) for p in patterns]).cpu()
        focus.append(torch.stack([pattern_focus(p, queries) for p in patterns]).permute(0, 2, 1).cpu().numpy())
        rows_reaching += real.sum(0).double().cpu()
        answer_rows += float(queries.sum())
    constant = len(np.unique(examples.target_start)) == 1 and len(np.unique(examples.end)) == 1
    return AttentionStats(
        mean_pattern=(pattern_sum / rows_reaching.clamp(min=1)[:, None]).numpy(),
        focus=np.concatenate(focus, axis=-1),
        offset_profile=(offsets / max(answer_rows, 1.0)).numpy(),
        layout=(int(examples.target_start[0]), int(examples.end[0])) if constant else None,
        tokens=examples.tokens[0, : int(examples.end[0])].copy(),
    )


def shares_layout(a: AttentionStats, b: AttentionStats) -> bool:
    """Whether both tasks put every prompt and answer token at the same positions (the paper's setting)."""
    return a.layout is not None and a.layout == b.layout


def pattern_difference(a: AttentionStats, b: AttentionStats) -> Float[np.ndarray, "layer head"]:
    """The paper's per-head Σ_{q,k} |Ā_A − Ā_B| (tasks that share a layout only)."""
    if not shares_layout(a, b):
        raise ValueError("the paper's attention difference needs two tasks with the same layout")
    end = a.layout[1]
    return np.abs(a.mean_pattern[..., :end, :end] - b.mean_pattern[..., :end, :end]).sum((-1, -2))


def js_distance(
    p: Float[np.ndarray, "*batch offset"], q: Float[np.ndarray, "*batch offset"],
) -> Float[np.ndarray, " *batch"]:
    """Jensen–Shannon distance (base 2, in [0, 1]) along the last axis; the shorter side is padded with 0."""
    width = max(p.shape[-1], q.shape[-1])
    p = np.pad(p, [(0, 0)] * (p.ndim - 1) + [(0, width - p.shape[-1])])
    q = np.pad(q, [(0, 0)] * (q.ndim - 1) + [(0, width - q.shape[-1])])
    return np.nan_to_num(jensenshannon(p, q, axis=-1, base=2), nan=0.0)


def mean_profile(profiles: list[np.ndarray]) -> np.ndarray:
    width = max(profile.shape[-1] for profile in profiles)
    return np.mean([np.pad(p, [(0, 0), (0, 0), (0, width - p.shape[-1])]) for p in profiles], axis=0)


def offset_distance(
    profiles_a: Mapping[int, Float[np.ndarray, "layer head offset"]],
    profiles_b: Mapping[int, Float[np.ndarray, "layer head offset"]],
) -> Float[np.ndarray, "layer head"]:
    """Per head, the JS distance between offset profiles: averaged over common lengths if there are any,
    else between the profiles averaged over each task's lengths."""
    common = sorted(set(profiles_a) & set(profiles_b))
    if common:
        return np.mean([js_distance(profiles_a[length], profiles_b[length]) for length in common], axis=0)
    return js_distance(mean_profile(list(profiles_a.values())), mean_profile(list(profiles_b.values())))


if __name__ == "__main__":  # python -m interp.attention --run DIR: interp.head_overlap with this family alone
    from interp.head_overlap import main

    main(family="attention")
