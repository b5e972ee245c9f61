"""Attention overlap between tasks (SPEC §7; Cai et al., arXiv 2506.09251, §6).

    python -m interp.attention --run DIR [...]   (interp.head_overlap's attention method alone, into analysis/attention/)

Per task, length and head, three summaries of the attention pattern ``hook_pattern`` (query × key):

- the *mean pattern* Ā over the examples (each query row averaged over the examples that reach it);
- the *focus* per example: 1 − the mean normalised entropy of the attention rows of the answer-predicting
  queries (the positions whose logits score a target token), entropy divided by log(#keys visible), so
  0 = uniform over everything visible and 1 = all weight on one token. This is the per-task,
  per-head scalar the suite maps (``"attention"`` maps of :mod:`interp.head_overlap`): a diagnostic, not
  the paper's attention metric; it is non-negative and comparable across tasks of any layout;
- the *offset profile*: the attention mass of the answer-predicting queries as a function of the
  relative offset q − k (0 = the query itself), averaged over queries and examples, a distribution per
  head that does not depend on where things sit in the prompt.

The paper's attention difference (:func:`attention_difference`) is, per head, Σ_{q,k} |Ā_A − Ā_B| between
the two tasks' mean patterns at the same length, averaged over the lengths asked for. Lower = more similar
(0 = identical mean patterns). Each length gets the strongest of three forms (:class:`AttentionForm`):

- shared layout (the paper's setting): both tasks put every prompt and answer token at the same positions
  in every example (add/nocarry/carry/sub, copy/reverse/capitalize/capreverse); the sum runs over the whole
  sequence;
- common part: the prompts share a layout (the same length and the same frame tokens — specials, task
  tokens, symbols — at the same positions in every example, e.g. add ``a+b=`` and copyfirst, copy ``s=``
  and mqar ``s|``, add and mul at length 3) but the answers differ in length (add l+1 digits, copyfirst l)
  or vary between examples: the sum runs over the square [:m, :m] that every example of both tasks reaches
  (m = the shorter of the two tasks' shortest sequences), i.e. the prompt and the answer positions aligned
  by index over the shorter answer;
- layout-free, where the prompts do not share a layout (add vs mul at lengths other than 3; mazes, whose
  adjacency lists put nodes and separators at different positions in each example): the Jensen–Shannon
  distance (base 2, in [0, 1]) between the offset profiles.

Σ|ΔĀ| is used on the lengths that have a common part if any has one (the form reported is then the weakest
among them); the layout-free distance only when none has. The result names the form, the lengths used and,
in one line, why.

Pitfalls: Σ|ΔĀ| grows with the sequence length (more entries; at most 2 per query row), so compare it
across checkpoints at fixed lengths, not across lengths. The common part drops the longer answer's tail,
and it aligns answer positions by index, whatever they mean in each task. The layout-free distance is in
other units and not comparable with Σ|ΔĀ|, and offset profiles of tasks of very different lengths differ
partly because longer sequences allow longer offsets. A prompt layout is judged from the examples given:
a batch of one example always has one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from scipy.spatial.distance import jensenshannon
from torch import Tensor
from transformer_lens import HookedTransformer
from transformer_lens.utilities import get_act_name

from interp.ablation import DEFAULT_BATCH_SIZE, chunks
from interp.tasks import Examples
from interp.vocab import DIGIT_0, LETTER_0, LETTERS, MAX_NODES, NODE_1


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
    prompt_frame: tuple[bool, ...] | None
    """Per prompt position, whether it holds a frame token (special, task token, symbol) rather than content
    (digit, letter, maze node), when that is the same in every example (a fixed prompt layout), else None."""
    shortest_end: int
    """The shortest example's sequence length: every example reaches the square [:shortest_end, :shortest_end]."""

    @property
    def prompt_end(self) -> int | None:
        """The prompt length when the examples share a prompt layout, else None."""
        return None if self.prompt_frame is None else len(self.prompt_frame)


def is_content(tokens: Int[np.ndarray, "*shape"]) -> Bool[np.ndarray, "*shape"]:
    """Digits, letters and maze nodes: the tokens that differ between examples of one layout."""
    letters_end = LETTER_0 + len(LETTERS)
    return ((tokens >= DIGIT_0) & (tokens < letters_end)) | ((tokens >= NODE_1) & (tokens < NODE_1 + MAX_NODES))


def prompt_frame(examples: Examples) -> tuple[bool, ...] | None:
    """Which prompt positions hold frame tokens, when every example has the same prompt layout, else None."""
    if len(np.unique(examples.target_start)) != 1:
        return None
    frame = ~is_content(examples.tokens[:, : int(examples.target_start[0])])
    return tuple(bool(x) for x in frame[0]) if (frame == frame[0]).all() else None


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
        prompt_frame=prompt_frame(examples),
        shortest_end=int(examples.end.min()),
    )


class AttentionForm(enum.Enum):
    """How the attention of two tasks at one length is compared, strongest first."""

    SHARED_LAYOUT = "shared_layout"
    """Identical layouts (every prompt and answer token at the same positions; the paper's setting):
    Σ_{q,k} |Ā_A − Ā_B| over the whole sequence."""
    COMMON_PART = "common_part"
    """The same prompt layout, answers of different or varying lengths: Σ_{q,k} |Ā_A − Ā_B| over the square
    [:m, :m], m = the shorter of the two tasks' shortest sequences (the prompt, then answer queries aligned by
    index over the shorter answer)."""
    LAYOUT_FREE = "layout_free"
    """No common part: the Jensen–Shannon distance (base 2, in [0, 1]) between attention-by-offset profiles,
    in other units than Σ|ΔĀ|."""

    @property
    def units(self) -> str:
        """What the numbers of this form measure, and their range."""
        if self is AttentionForm.LAYOUT_FREE:
            return "Jensen–Shannon distance between attention-by-offset profiles (base 2, 0 to 1)"
        return "Σ|Ā_A − Ā_B| over query × key entries (0 to 2 per query row)"


FORM_STRENGTH = list(AttentionForm)


def common_square(a: AttentionStats, b: AttentionStats) -> int | None:
    """m such that every example of both tasks reaches [:m, :m], when their prompts share a layout, else None."""
    if a.prompt_frame is None or a.prompt_frame != b.prompt_frame:
        return None
    return min(a.shortest_end, b.shortest_end)


def comparison_form(a: AttentionStats, b: AttentionStats) -> AttentionForm:
    """The strongest form in which the two tasks' attention at one length can be compared."""
    if common_square(a, b) is None:
        return AttentionForm.LAYOUT_FREE
    if a.layout is not None and a.layout == b.layout:
        return AttentionForm.SHARED_LAYOUT
    return AttentionForm.COMMON_PART


def shares_layout(a: AttentionStats, b: AttentionStats) -> bool:
    """Whether both tasks put every prompt and answer token at the same positions (the paper's setting)."""
    return comparison_form(a, b) is AttentionForm.SHARED_LAYOUT


def square_difference(a: AttentionStats, b: AttentionStats, side: int) -> Float[np.ndarray, "layer head"]:
    """Per head, Σ_{q,k < side} |Ā_A − Ā_B|."""
    return np.abs(a.mean_pattern[..., :side, :side] - b.mean_pattern[..., :side, :side]).sum((-1, -2))


def pattern_difference(a: AttentionStats, b: AttentionStats) -> Float[np.ndarray, "layer head"]:
    """The paper's per-head Σ_{q,k} |Ā_A − Ā_B| (tasks that share a layout only)."""
    if not shares_layout(a, b):
        raise ValueError("the paper's attention difference needs two tasks with the same layout")
    return square_difference(a, b, a.layout[1])


def js_distance(
    p: Float[np.ndarray, "*batch offset_p"], q: Float[np.ndarray, "*batch offset_q"],
) -> Float[np.ndarray, " *batch"] | float:
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


@dataclass(frozen=True)
class AttentionDifference:
    """The paper's attention difference between two tasks, per head, and how it was taken."""

    per_head: Float[np.ndarray, "layer head"]
    """Σ|Ā_A − Ā_B| (shared layout, common part) or the JS distance (layout-free), averaged over ``lengths``;
    lower = more similar."""
    form: AttentionForm
    """The weakest form among the lengths used."""
    lengths: tuple[int, ...]
    """The lengths averaged."""
    note: str
    """One line for people: the form, and why."""
    forms_by_length: dict[int, AttentionForm]
    """The strongest form each length asked for allows (those without a common part are left out when
    another length has one)."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"per_head": self.per_head.tolist(), "form": self.form.value, "units": self.form.units,
                "lengths": list(self.lengths), "note": self.note,
                "forms_by_length": {str(length): form.value for length, form in self.forms_by_length.items()}}


def attention_difference(
    stats_a: Mapping[int, AttentionStats], stats_b: Mapping[int, AttentionStats], lengths: Sequence[int],
    names: tuple[str, str] = ("A", "B"),
) -> AttentionDifference:
    """Per head, the paper's Σ|Ā_A − Ā_B| averaged over ``lengths``, on the lengths that have a common part
    (in the weakest form among them), else the layout-free distance over all of them (module docstring)."""
    lengths = sorted({int(length) for length in lengths})
    missing = [length for length in lengths if length not in stats_a or length not in stats_b]
    if not lengths or missing:
        raise ValueError(f"attention difference of {names[0]} and {names[1]}: no lengths given"
                         if not lengths else f"no attention statistics at lengths {missing}")
    forms = {length: comparison_form(stats_a[length], stats_b[length]) for length in lengths}
    used = [length for length in lengths if forms[length] is not AttentionForm.LAYOUT_FREE]
    if used:
        per_head = np.mean([square_difference(stats_a[n], stats_b[n], common_square(stats_a[n], stats_b[n]))
                            for n in used], axis=0)
        form = max((forms[length] for length in used), key=FORM_STRENGTH.index)
    else:
        used, form = lengths, AttentionForm.LAYOUT_FREE
        per_head = offset_distance({n: stats_a[n].offset_profile for n in used},
                                   {n: stats_b[n].offset_profile for n in used})
    pairs = {length: (stats_a[length], stats_b[length]) for length in lengths}
    return AttentionDifference(per_head=per_head, form=form, lengths=tuple(used),
                               note=difference_note(pairs, forms, used, names), forms_by_length=forms)


def answer_size(stats: AttentionStats) -> str:
    """Answer tokens (without ``<eos>``) of the shortest example; "≥" when they vary."""
    count = stats.shortest_end - stats.prompt_end - 1
    return str(count) if stats.layout is not None else f"≥{count}"


def no_common_part(a: AttentionStats, b: AttentionStats, names: tuple[str, str]) -> str:
    """Why two tasks' attention at one length has no common part."""
    varying = [name for stats, name in zip((a, b), names, strict=True) if stats.prompt_frame is None]
    if varying:
        return f"the prompt layout of {' and '.join(varying)} varies between examples"
    if a.prompt_end != b.prompt_end:
        return "prompts of different lengths"
    return "prompts of one length with frame tokens at different positions"


def by_length(texts: Mapping[int, str]) -> str:
    """``{8: "x", 9: "x", 4: "y"}`` → "x at lengths 8, 9; y at length 4"."""
    grouped: dict[str, list[int]] = {}
    for length, text in texts.items():
        grouped.setdefault(text, []).append(length)
    return "; ".join(f"{text} at length{'s' if len(ns) > 1 else ''} {', '.join(map(str, ns))}"
                     for text, ns in grouped.items())


def difference_note(
    pairs: Mapping[int, tuple[AttentionStats, AttentionStats]], forms: Mapping[int, AttentionForm],
    used: Sequence[int], names: tuple[str, str],
) -> str:
    """One line: which form at which lengths, and why."""
    a, b = names
    apart = {n: no_common_part(*pairs[n], names) for n, form in forms.items() if form is AttentionForm.LAYOUT_FREE}
    if len(apart) == len(forms):
        return (f"{a} and {b} have no common part ({by_length(apart)}): layout-free Jensen–Shannon distance "
                "between attention-by-offset profiles, in other units than Σ|ΔĀ|")
    tail = f"; left out, without a common part: {by_length(apart)}" if apart else ""
    if all(forms[n] is AttentionForm.SHARED_LAYOUT for n in used):
        return f"{a} and {b} share the layout (the paper's setting): Σ|ΔĀ| over the whole sequence{tail}"
    parts = []
    for n in used:
        first, second = pairs[n]
        side = common_square(first, second)
        parts.append(f"length {n}: same layout, [:{side}, :{side}]" if forms[n] is AttentionForm.SHARED_LAYOUT
                     else f"length {n}: {answer_size(first)} vs {answer_size(second)} answer tokens, "
                          f"[:{side}, :{side}], prompt of {first.prompt_end} tokens")
    return (f"{a} and {b} answers differ in length: Σ|ΔĀ| on the common part, the square of the prompt and the "
            f"answer positions up to the shorter sequence's end ({'; '.join(parts)}){tail}")
