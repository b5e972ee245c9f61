import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformer_lens.utilities import get_act_name

from interp import load_run
from interp.attention import (
    AttentionForm,
    AttentionStats,
    attention_difference,
    attention_stats,
    js_distance,
    offset_distance,
    offset_mass,
    pattern_difference,
    pattern_focus,
    prompt_frame,
    shares_layout,
)
from interp.data import evaluation_set
from interp.groups import load_group
from interp.tasks import Examples
from interp.vocab import EOS, PAD

GROUPS = Path(__file__).parents[1] / "models" / "groups"
SHARED, COMMON, FREE = AttentionForm.SHARED_LAYOUT, AttentionForm.COMMON_PART, AttentionForm.LAYOUT_FREE


def causal_uniform(width: int) -> torch.Tensor:
    mask = torch.tril(torch.ones(width, width, dtype=torch.float64))
    return (mask / mask.sum(-1, keepdim=True))[None, None]


def test_focus_is_zero_for_uniform_and_one_for_one_hot_attention():
    width = 6
    queries = torch.zeros(1, width, dtype=torch.bool)
    queries[0, 2:5] = True
    assert pattern_focus(causal_uniform(width), queries).item() == pytest.approx(0.0, abs=1e-12)
    one_hot = torch.eye(width, dtype=torch.float64)[None, None]
    assert pattern_focus(one_hot, queries).item() == pytest.approx(1.0)


def test_offset_mass_of_a_previous_token_head_sits_at_offset_one():
    width = 7
    previous = torch.zeros(1, 1, width, width, dtype=torch.float64)
    previous[0, 0, 0, 0] = 1
    previous[0, 0, torch.arange(1, width), torch.arange(width - 1)] = 1
    queries = torch.zeros(1, width, dtype=torch.bool)
    queries[0, 3:] = True
    mass = offset_mass(previous, queries)
    expected = torch.zeros(1, width, dtype=torch.float64)
    expected[0, 1] = 4  # four answer queries, all weight one step back
    torch.testing.assert_close(mass, expected)
    uniform = offset_mass(causal_uniform(width), queries)  # query q spreads 1/(q+1) over offsets 0..q
    torch.testing.assert_close(uniform.sum(), torch.tensor(4.0, dtype=torch.float64))
    assert uniform[0, 6] == pytest.approx(1 / 7)


def test_attention_stats_against_the_cached_patterns(trained_run):
    model = load_run(trained_run).model
    examples = evaluation_set("copy", 4, 20)
    stats = attention_stats(model, examples, batch_size=8)
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.as_tensor(examples.tokens))
    for layer in range(model.cfg.n_layers):
        pattern = cache[get_act_name("pattern", layer)].double()
        np.testing.assert_allclose(stats.mean_pattern[layer], pattern.mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(stats.mean_pattern.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(stats.offset_profile.sum(-1), 1.0, atol=1e-6)
    assert stats.focus.shape == (2, 2, 20) and ((stats.focus >= 0) & (stats.focus <= 1)).all()
    assert stats.layout == (int(examples.target_start[0]), int(examples.end[0]))


def test_paper_difference_needs_a_shared_layout(trained_run):
    model = load_run(trained_run).model
    copy, reverse = (attention_stats(model, evaluation_set(task, 5, 16)) for task in ("copy", "reverse"))
    assert shares_layout(copy, reverse)
    np.testing.assert_allclose(pattern_difference(copy, copy), 0.0)
    expected = np.abs(copy.mean_pattern - reverse.mean_pattern).sum((-1, -2))
    np.testing.assert_allclose(pattern_difference(copy, reverse), expected)
    assert (pattern_difference(copy, reverse) > 0).all()
    longer = attention_stats(model, evaluation_set("copy", 6, 16))
    path = attention_stats(model, evaluation_set("path", 5, 16))  # answers of several lengths
    assert not shares_layout(copy, longer) and not shares_layout(path, path)
    with pytest.raises(ValueError, match="same layout"):
        pattern_difference(copy, longer)


def test_jensen_shannon_distance():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(js_distance(p, q), [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(js_distance(p, q), js_distance(q, p))
    np.testing.assert_allclose(js_distance(np.array([1.0, 0.0]), np.array([1.0, 0.0, 0.0, 0.0])), 0.0)
    # by hand: p = (1, 0), q = (½, ½), m = (¾, ¼); JSD = ½ KL(p‖m) + ½ KL(q‖m) in bits; distance = √JSD
    divergence = 0.5 * np.log2(1 / 0.75) + 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25))
    assert js_distance(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(np.sqrt(divergence))


def test_offset_distance_uses_common_lengths_when_there_are_some():
    near = np.zeros((1, 1, 4))
    near[..., 1] = 1
    far = np.zeros((1, 1, 4))
    far[..., 3] = 1
    assert offset_distance({2: near, 3: far}, {3: far, 9: near})[0, 0] == pytest.approx(0.0)
    assert offset_distance({2: near}, {3: far})[0, 0] == pytest.approx(1.0)
    mixed = offset_distance({2: near, 4: far}, {3: near})[0, 0]  # pooled: ½ near + ½ far vs near
    assert 0 < mixed < 1


def test_stats_record_the_first_example_for_labels(trained_run):
    model = load_run(trained_run).model
    examples = evaluation_set("reverse", 3, 4)
    stats: AttentionStats = attention_stats(model, examples)
    np.testing.assert_array_equal(stats.tokens, examples.tokens[0, : examples.end[0]])


def hand_stats(pattern: np.ndarray, frame: tuple[bool, ...] | None, shortest_end: int, constant_end: bool = True,
               profile: np.ndarray | None = None) -> AttentionStats:
    """One head's statistics built by hand; the layout is (prompt, end) when the ends are constant."""
    width = pattern.shape[-1]
    layout = (len(frame), shortest_end) if frame is not None and constant_end else None
    return AttentionStats(
        mean_pattern=pattern[None, None], focus=np.zeros((1, 1, 1)),
        offset_profile=np.zeros((1, 1, width)) if profile is None else profile[None, None],
        layout=layout, tokens=np.zeros(width, dtype=np.int64), prompt_frame=frame, shortest_end=shortest_end,
    )


def uniform(width: int) -> np.ndarray:
    return causal_uniform(width)[0, 0].numpy()


FRAME = (True, False)  # a two-token prompt: frame, content
# Σ|uniform − identity| over the 4 × 4 causal square, row by row: 0 + 1 + 4/3 + 3/2
UNIFORM_VS_IDENTITY_4 = 23 / 6


def test_shared_layout_is_the_paper_sum_over_the_whole_sequence():
    a, b = hand_stats(uniform(4), FRAME, 4), hand_stats(np.eye(4), FRAME, 4)
    difference = attention_difference({5: a}, {5: b}, [5], ("a", "b"))
    assert difference.form is SHARED and difference.lengths == (5,)
    assert difference.per_head[0, 0] == pytest.approx(UNIFORM_VS_IDENTITY_4)
    assert shares_layout(a, b) and pattern_difference(a, b)[0, 0] == pytest.approx(UNIFORM_VS_IDENTITY_4)
    assert "share the layout" in difference.note


def test_common_part_is_the_square_every_example_of_both_reaches():
    longer = hand_stats(uniform(6), FRAME, 5, constant_end=False)  # ends 5 to 6: not every example reaches row 5
    shorter = hand_stats(np.eye(4), FRAME, 4)  # answer one token shorter, constant
    difference = attention_difference({2: longer}, {2: shorter}, [2], ("long", "short"))
    assert difference.form is COMMON
    assert difference.per_head[0, 0] == pytest.approx(UNIFORM_VS_IDENTITY_4)  # the square [:4, :4]
    assert "length 2: ≥2 vs 1 answer tokens, [:4, :4], prompt of 2 tokens" in difference.note
    assert not shares_layout(longer, shorter)
    # varying ends on both sides: the square is the shorter of the two shortest ends
    both_vary = attention_difference({2: hand_stats(uniform(6), FRAME, 4, constant_end=False)},
                                     {2: hand_stats(np.eye(6), FRAME, 5, constant_end=False)}, [2])
    assert both_vary.form is COMMON and both_vary.per_head[0, 0] == pytest.approx(UNIFORM_VS_IDENTITY_4)
    assert "≥1 vs ≥2 answer tokens" in both_vary.note


def test_layout_free_when_no_prompt_layout_is_shared():
    near, far = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    a = hand_stats(uniform(3), FRAME, 3, profile=near)
    other_frame = hand_stats(uniform(3), (False, True), 3, profile=far)
    longer_prompt = hand_stats(uniform(4), (True, False, True), 4, profile=far)
    varying = hand_stats(uniform(3), None, 3, profile=near)
    for b, reason, distance in ((other_frame, "frame tokens at different positions", 1.0),
                                (longer_prompt, "prompts of different lengths", 1.0),
                                (varying, "the prompt layout of b varies between examples", 0.0)):
        difference = attention_difference({4: a, 6: a}, {4: b, 6: b}, [6, 4], ("a", "b"))
        assert difference.form is FREE and difference.lengths == (4, 6)
        assert difference.per_head[0, 0] == pytest.approx(distance)
        assert reason + " at lengths 4, 6" in difference.note and "Jensen–Shannon" in difference.note


def test_mixed_lengths_use_those_with_a_common_part_and_report_the_weakest_form():
    shared = (hand_stats(uniform(4), FRAME, 4), hand_stats(np.eye(4), FRAME, 4))
    common = (hand_stats(np.eye(5), FRAME, 5), hand_stats(np.eye(4), FRAME, 4))  # identical on [:4, :4]
    apart = (hand_stats(uniform(3), FRAME, 3), hand_stats(uniform(3), None, 3))
    stats_a, stats_b = ({3: shared[i], 5: common[i], 7: apart[i]} for i in (0, 1))
    difference = attention_difference(stats_a, stats_b, [3, 5, 7], ("a", "b"))
    assert difference.form is COMMON and difference.lengths == (3, 5)
    assert difference.forms_by_length == {3: SHARED, 5: COMMON, 7: FREE}
    assert difference.per_head[0, 0] == pytest.approx(UNIFORM_VS_IDENTITY_4 / 2)
    assert "left out, without a common part: the prompt layout of b varies between examples at length 7" \
        in difference.note
    only_shared = attention_difference(stats_a, stats_b, [3, 7])
    assert only_shared.form is SHARED and only_shared.lengths == (3,)
    record = json.loads(json.dumps(difference.to_record()))
    assert record == {"per_head": [[pytest.approx(UNIFORM_VS_IDENTITY_4 / 2)]], "form": "common_part",
                      "units": COMMON.units, "lengths": [3, 5], "note": difference.note,
                      "forms_by_length": {"3": "shared_layout", "5": "common_part", "7": "layout_free"}}
    with pytest.raises(ValueError, match=r"lengths \[9\]"):
        attention_difference(stats_a, stats_b, [3, 9])
    with pytest.raises(ValueError, match="no lengths"):
        attention_difference(stats_a, stats_b, [])


# The form of every pair of every group in models/groups at lengths 3, 4 and 8 (mazes 4 and 8; copy|mqar also
# 6). Add and mul prompts (a+b= against a*b with b of 3 digits: 2n + 5 against n + 8 tokens) coincide at
# length 3 only; copy and mqar answers (n against 3·ceil(n/4) tokens) coincide at lengths 3, 6 and 9; maze
# prompts have one length (5n + 6) but put nodes and separators at different positions in each example.
EXPECTED_FORMS = {
    **{frozenset(pair): dict.fromkeys((3, 4, 8), SHARED) for pair in (
        ("add", "nocarry"), ("add", "carry"), ("nocarry", "carry"), ("add", "sub"), ("copy", "reverse"),
        ("capreverse", "capitalize"), ("capreverse", "reverse"), ("capitalize", "reverse"))},
    frozenset(("add", "copyfirst")): dict.fromkeys((3, 4, 8), COMMON),
    frozenset(("add", "mul")): {3: COMMON, 4: FREE, 8: FREE},
    frozenset(("copy", "mqar")): {3: SHARED, 4: COMMON, 6: SHARED, 8: COMMON},
    frozenset(("dfs", "path")): {4: FREE, 8: FREE},
}


@pytest.fixture(scope="module")
def micro_stats(trained_run):
    """Attention statistics of the micro model (its vocabulary holds every task) on 8 test examples."""
    model = load_run(trained_run).model
    cache: dict[tuple[str, int], AttentionStats] = {}

    def stats(task: str, length: int) -> AttentionStats:
        if (task, length) not in cache:
            cache[task, length] = attention_stats(model, evaluation_set(task, length, 8))
        return cache[task, length]

    return stats


def group_pairs() -> list[tuple[str, str]]:
    return sorted({pair for path in sorted(GROUPS.glob("*.toml"))
                   for pair in itertools.combinations(load_group(path).task_names, 2)})


def test_every_pair_of_every_group_gets_the_expected_form(micro_stats):
    pairs = group_pairs()
    assert {frozenset(pair) for pair in pairs} == set(EXPECTED_FORMS)  # a new pair needs its expected forms
    for a, b in pairs:
        expected = EXPECTED_FORMS[frozenset((a, b))]
        stats_a, stats_b = ({n: micro_stats(task, n) for n in expected} for task in (a, b))
        difference = attention_difference(stats_a, stats_b, list(expected), (a, b))
        assert difference.forms_by_length == expected, (a, b)
        assert difference.per_head.shape == (2, 2) and np.isfinite(difference.per_head).all()
    add_mul = attention_difference(*({n: micro_stats(task, n) for n in (3, 4, 8)} for task in ("add", "mul")),
                                   [3, 4, 8], ("add", "mul"))
    assert add_mul.form is COMMON and add_mul.lengths == (3,)
    assert "left out, without a common part: prompts of different lengths at lengths 4, 8" in add_mul.note
    dfs_path = attention_difference({4: micro_stats("dfs", 4)}, {4: micro_stats("path", 4)}, [4], ("dfs", "path"))
    assert dfs_path.form is FREE and "the prompt layout of dfs and path varies" in dfs_path.note
    assert (dfs_path.per_head >= 0).all() and (dfs_path.per_head <= 1).all()


def test_prompt_layouts_of_the_tasks(micro_stats, tokenizer):
    copy, mqar = micro_stats("copy", 8), micro_stats("mqar", 8)
    assert copy.prompt_end == mqar.prompt_end == 12 and copy.prompt_frame == mqar.prompt_frame
    assert tokenizer.decode(copy.tokens[10:12]) == "=<copy>" and tokenizer.decode(mqar.tokens[10:12]) == "|<mqar>"
    add, mul = micro_stats("add", 3), micro_stats("mul", 3)
    assert add.prompt_frame == mul.prompt_frame == (True, True, False, False, False, True, False, False, False,
                                                    True, True)
    path = micro_stats("path", 8)  # every prompt has 46 tokens, but not one layout
    assert path.prompt_frame is None and path.prompt_end is None and path.layout is None
    assert set(evaluation_set("path", 8, 8).target_start) == {46}
    assert len(prompt_frame(evaluation_set("path", 8, 1))) == 46  # one example always has a layout (a pitfall)


def shorten(examples: Examples, rows: list[int], by: int) -> Examples:
    """The examples with the answers of ``rows`` cut by ``by`` tokens (answers of varying length)."""
    tokens, scored, end = examples.tokens.copy(), examples.scored.copy(), examples.end.copy()
    for row in rows:
        end[row] -= by
        tokens[row, end[row] - 1], tokens[row, end[row]:] = EOS, PAD
        scored[row, end[row]:] = False
    return replace(examples, tokens=tokens, scored=scored, end=end)


def reference_mean_pattern(model, examples: Examples) -> np.ndarray:
    """Each example run alone, unpadded; each query row averaged over the examples that reach it."""
    width = int(examples.end.max())
    total, reaching = np.zeros((model.cfg.n_layers, model.cfg.n_heads, width, width)), np.zeros(width)
    for row in range(len(examples)):
        end = int(examples.end[row])
        with torch.no_grad():
            _, cache = model.run_with_cache(torch.as_tensor(examples.tokens[row: row + 1, :end]))
        for layer in range(model.cfg.n_layers):
            total[layer, :, :end, :end] += cache[get_act_name("pattern", layer)][0].double().numpy()
        reaching[:end] += 1
    return total / reaching[:, None]


def test_attention_difference_against_per_example_loops(trained_run):
    model = load_run(trained_run).model
    copy = shorten(evaluation_set("copy", 6, 6), rows=[1, 4], by=2)  # ends 15 and 17
    cases = [(evaluation_set("add", 3, 6), evaluation_set("copyfirst", 3, 6), 15),
             (copy, evaluation_set("reverse", 6, 6), 15),
             (evaluation_set("copy", 5, 6), evaluation_set("mqar", 5, 6), 15)]
    for examples_a, examples_b, side in cases:
        stats_a, stats_b = attention_stats(model, examples_a, batch_size=4), attention_stats(model, examples_b)
        mean_a, mean_b = reference_mean_pattern(model, examples_a), reference_mean_pattern(model, examples_b)
        np.testing.assert_allclose(stats_a.mean_pattern, mean_a, atol=1e-6)
        expected = np.abs(mean_a[..., :side, :side] - mean_b[..., :side, :side]).sum((-1, -2))
        difference = attention_difference({7: stats_a}, {7: stats_b}, [7])
        assert difference.form is COMMON and f"[:{side}, :{side}]" in difference.note
        np.testing.assert_allclose(difference.per_head, expected, atol=1e-5)
    shortened = attention_stats(model, copy)
    assert shortened.shortest_end == 15 and shortened.layout is None and shortened.prompt_end == 10
