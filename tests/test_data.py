import itertools

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from interp.data import (
    BUCKET_WIDTHS,
    WHOLE_BATCH,
    WIDTH_PARTS,
    MixtureSampler,
    PackPlan,
    PartPlan,
    bucket_width,
    evaluation_set,
    pack,
    split_by_width,
)
from interp.groups import load_group
from interp.tasks import get_task


@pytest.fixture(scope="module")
def sampler():
    return MixtureSampler(load_group("add_carry"), data_seed=0)


def test_batches_are_a_pure_function_of_seed_and_step(sampler):
    a, b = sampler.batch(5, 256), MixtureSampler(load_group("add_carry"), 0).batch(5, 256)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.scored, b.scored)
    assert not torch.equal(sampler.batch(6, 256).tokens, a.tokens)
    assert not torch.equal(MixtureSampler(load_group("add_carry"), 1).batch(5, 256).tokens, a.tokens)


def test_tasks_are_drawn_uniformly(sampler):
    counts = np.bincount(np.concatenate([sampler.batch(s, 512).task_index.numpy() for s in range(6)]))
    assert len(counts) == 3 and chisquare(counts).pvalue > 1e-3


def test_rows_carry_their_task_and_training_length(sampler, tokenizer):
    batch = sampler.batch(0, 300)
    for row in range(300):
        spec = sampler.group.specs[int(batch.task_index[row])]
        text = tokenizer.decode(batch.tokens[row].tolist())
        assert text.startswith(f"<bos><{spec.task}>")
        assert 1 <= int(batch.length[row]) <= spec.max_length


def test_padding_and_masks(sampler, tokenizer):
    batch = sampler.batch(3, 128)
    assert batch.tokens.shape[1] in BUCKET_WIDTHS
    real = (batch.tokens != tokenizer.pad_id).sum().item()
    assert real == batch.real_tokens
    assert batch.padding_share == pytest.approx(1 - real / batch.tokens.numel())
    eos = batch.tokens == tokenizer.eos_id
    assert torch.equal(eos.sum(1), torch.ones(128, dtype=torch.long))
    assert (batch.scored & eos).sum() == 128  # <eos> is always scored
    assert not batch.scored[:, 0].any() and not (batch.scored & (batch.tokens == tokenizer.pad_id)).any()
    for row in range(128):
        text = tokenizer.decode(batch.tokens[row][batch.scored[row]].tolist())
        full = tokenizer.decode(batch.tokens[row].tolist()).replace("<pad>", "")
        assert full.endswith(text)  # scored positions are exactly the target and <eos>
        task = sampler.group.specs[int(batch.task_index[row])].task
        assert full.split(f"<{task}>")[2] == text


def test_bucket_widths():
    assert bucket_width(1) == 32 and bucket_width(129) == 192 and bucket_width(512) == 512
    assert bucket_width(513) == 640


def test_width_parts_hold_the_same_examples_with_less_padding():
    sampler = MixtureSampler(load_group("add_carry"), 0)
    batch = sampler.batch(2, 512)
    parts = split_by_width(batch, PartPlan(max_parts=3, granularity=None))
    assert 2 <= len(parts) <= 3 and all(len(p.tokens) >= 512 // 8 for p in parts)
    assert all(p.tokens.shape[1] in BUCKET_WIDTHS for p in parts)
    rows = lambda tokens: sorted(tuple(r[r != 0].tolist()) for r in tokens)  # noqa: E731
    assert rows(batch.tokens) == sorted(sum((rows(p.tokens) for p in parts), []))
    assert sum(p.real_tokens for p in parts) == batch.real_tokens
    assert sum(p.tokens.numel() for p in parts) <= 0.9 * batch.tokens.numel()
    for part in parts:
        assert (part.tokens != 0).sum(1).max() <= part.tokens.shape[1]
        assert sorted(part.task_index.tolist()) == sorted(
            batch.task_index[[i for i in range(512) if tuple(batch.tokens[i][batch.tokens[i] != 0].tolist())
                              in set(rows(part.tokens))]].tolist())
    [whole] = split_by_width(batch, WHOLE_BATCH)  # static shapes for torch.compile: never cut
    assert torch.equal(whole.tokens[:, :batch.tokens.shape[1]], batch.tokens) and whole.tokens.shape[1] in BUCKET_WIDTHS
    uniform = sampler.batch(0, 16)
    assert split_by_width(uniform, PartPlan(max_parts=3, granularity=None, min_saving=0.99)) == [uniform]


@pytest.mark.parametrize(("group", "row_multiple", "min_width"),
                         [("add_carry", 1, 0), ("add8_carry", 32, 0), ("path_dfs", 8, 64), ("add8_only", 1, 64)])
def test_packed_rows_hold_every_example_once_with_its_own_positions(group, row_multiple, min_width):
    batch = MixtureSampler(load_group(group), 0).batch(3, 200)
    [packed] = PackPlan(row_multiple, min_width).cut(batch)
    width = packed.tokens.shape[1]
    assert width == max(batch.tokens.shape[1], min_width) and len(packed.tokens) % row_multiple == 0
    assert packed.real_tokens == batch.real_tokens == int((packed.segments >= 0).sum())
    assert packed.padding_share < batch.padding_share
    for example in range(len(batch.tokens)):  # each example whole, contiguous, in one row, positions from 0
        rows, columns = torch.nonzero(packed.segments == example, as_tuple=True)
        length = int((batch.tokens[example] != 0).sum())
        assert len(rows) == length and (rows == rows[0]).all() and torch.equal(columns, columns[0] + torch.arange(length))
        where = packed.segments == example
        assert torch.equal(packed.tokens[where], batch.tokens[example, :length])
        assert torch.equal(packed.scored[where], batch.scored[example, :length])
        assert torch.equal(packed.positions[where], torch.arange(length))
        assert (packed.task_of_token[where] == batch.task_index[example]).all()
    padding = packed.segments < 0
    assert (packed.tokens[padding] == 0).all() and not packed.scored[padding].any()
    # best fit by decreasing length, against a plain-list version of it
    rows = []
    for length in sorted((int(n) for n in (batch.tokens != 0).sum(1)), reverse=True):
        fits = [(width - used, r) for r, used in enumerate(rows) if used + length <= width]
        if fits:
            rows[min(fits)[1]] += length
        else:
            rows.append(length)
    assert -(-len(rows) // row_multiple) * row_multiple == len(packed.tokens)
    used = (packed.segments >= 0).sum(1).tolist()
    assert used[: len(rows)] == rows and not any(used[len(rows):])
    assert torch.equal(pack(batch, row_multiple, min_width).tokens, packed.tokens)  # a pure function of the batch


def test_a_batch_over_the_row_cap_runs_as_parts_of_exactly_the_cap():
    batch = MixtureSampler(load_group("add_carry"), 0).batch(3, 200)
    [uncapped] = PackPlan(row_multiple=8, min_width=64).cut(batch)
    [within] = PackPlan(8, 64, max_rows=len(uncapped.tokens)).cut(batch)  # within the cap: unchanged
    assert all(torch.equal(a, b) for a, b in zip(within.tensors(), uncapped.tensors(), strict=True))
    cap = 8 * (len(uncapped.tokens) // 24)  # about a third of the rows the batch needs
    parts = PackPlan(8, 64, max_rows=cap).cut(batch)
    assert len(parts) >= 3 and all(part.tokens.shape == (cap, uncapped.tokens.shape[1]) for part in parts)
    full = pack(batch, cap, 64)  # the same packing, rounded up to whole parts
    for field in ("tokens", "scored", "positions", "segments", "task_of_token"):
        assert torch.equal(torch.cat([getattr(part, field) for part in parts]), getattr(full, field))
    assert [part.real_tokens for part in parts] == [int((part.segments >= 0).sum()) for part in parts]
    assert sum(part.real_tokens for part in parts) == batch.real_tokens
    examples = torch.cat([part.segments[part.segments >= 0].unique() for part in parts])
    assert sorted(examples.tolist()) == list(range(len(batch.tokens)))  # every example once, in one part


@pytest.mark.parametrize("group", ["add8_carry", "add_carry", "path_dfs"])
def test_eager_parts_are_the_cheapest_cut_a_brute_force_finds(group):
    """The dynamic programme against every combination of cuts where the width changes (parts of at least
    an eighth of the rows)."""
    batch = MixtureSampler(load_group(group), 0).batch(1, 64)
    lengths = sorted((batch.tokens != 0).sum(1).tolist())
    widths = [WIDTH_PARTS.width(n) for n in lengths]
    cost = lambda edges: sum((b - a) * widths[b - 1] for a, b in itertools.pairwise(edges))  # noqa: E731
    best = min(cost((0, *cuts, 64)) for parts in range(1, WIDTH_PARTS.max_parts + 1)
               for cuts in itertools.combinations([i for i in range(8, 57) if widths[i] != widths[i - 1]], parts - 1)
               if all(b - a >= 8 for a, b in itertools.pairwise((0, *cuts, 64))))
    parts = split_by_width(batch, WIDTH_PARTS)
    assert sum(p.tokens.numel() for p in parts) == (best if best <= 0.9 * 64 * widths[-1] else 64 * widths[-1])
    assert all(p.tokens.shape[1] % 8 == 0 and (p.tokens != 0).sum(1).max() > p.tokens.shape[1] - 8 for p in parts)
    assert sum(p.real_tokens for p in parts) == batch.real_tokens


def test_evaluation_sets_are_fixed_and_exact():
    a = evaluation_set("add", 7, count=50)
    assert np.array_equal(a.tokens, evaluation_set("add", 7, count=50).tokens)
    assert (a.length == 7).all()
    assert not np.array_equal(a.tokens, evaluation_set("add", 7, count=50, seed=9).tokens)
    assert not np.array_equal(a.tokens, evaluation_set("nocarry", 7, count=50).tokens[:, : a.tokens.shape[1]])
    assert len(evaluation_set("mqar", 3, count=5)) == 5 and get_task("mqar").min_length == 3



def test_an_evaluation_set_past_the_context_is_refused_in_one_line():
    from interp.data import evaluation_set, fitting_evaluation_set
    from interp.errors import InterpError

    fits = fitting_evaluation_set("add", 3, 4, 0, n_ctx=512)
    assert (fits.tokens == evaluation_set("add", 3, 4, 0).tokens).all()
    with pytest.raises(InterpError, match=r"^add at length 3 needs \d+ tokens but the model's context is 5; shorter$"):
        fitting_evaluation_set("add", 3, 4, 0, n_ctx=5, advice="; shorter")
