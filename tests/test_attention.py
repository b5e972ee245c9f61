import numpy as np
import pytest
import torch
from transformer_lens.utilities import get_act_name

from interp import load_run
from interp.attention import (
    AttentionStats,
    attention_stats,
    js_distance,
    offset_distance,
    offset_mass,
    pattern_difference,
    pattern_focus,
    shares_layout,
)
from interp.data import evaluation_set


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
