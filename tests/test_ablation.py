import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformer_lens.utilities import get_act_name

from interp import load_run
from interp.ablation import AblationKind, ablate_heads, derangement, head_outputs, mean_head_outputs
from interp.data import evaluation_set
from interp.errors import InterpError
from interp.evaluate import exact_match
from interp.model import ModelConfig, build_model
from interp.tasks import default_tokens

UNTRAINED = ModelConfig(n_layers=2, n_heads=3, d_model=48, d_head=16, d_mlp=64, n_ctx=256)
"""Three heads per layer, so two heads per pass leave a remainder pass."""


@pytest.fixture(scope="module")
def trained_model(trained_run):
    return load_run(trained_run).model


@pytest.fixture(scope="module")
def untrained_model():
    return build_model(UNTRAINED, len(default_tokens()), seed=3).eval()


def assert_same_effects(fast, slow):
    for kind in slow:
        np.testing.assert_array_equal(fast[kind].scores.base_correct, slow[kind].scores.base_correct)
        np.testing.assert_array_equal(fast[kind].scores.correct, slow[kind].scores.correct)
        np.testing.assert_allclose(fast[kind].scores.logprob, slow[kind].scores.logprob, rtol=0, atol=1e-5)
        np.testing.assert_allclose(fast[kind].logprob_drop(), slow[kind].logprob_drop(), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(fast[kind].accuracy_drop(), slow[kind].accuracy_drop())


@pytest.mark.parametrize("task,length,max_rows", [("copy", 3, 16), ("copy", 4, 64), ("reverse", 4, 40)])
def test_batched_ablation_equals_per_head_loop_on_trained_model(trained_model, task, length, max_rows):
    examples = evaluation_set(task, length, 40)
    # chunks of 16, 16 and 8 examples; max_rows 16 runs one head per pass, 64 both heads of a layer at once
    fast = ablate_heads(trained_model, examples, batch_size=16, max_rows=max_rows)
    slow = ablate_heads(trained_model, examples, batch_size=40, batched=False)
    assert_same_effects(fast, slow)
    assert slow[AblationKind.MEAN].scores.correct.any() and not slow[AblationKind.ZERO].scores.correct.all()


@pytest.mark.parametrize("task,length", [("add", 4), ("mul", 3), ("dfs", 5)])
def test_batched_ablation_equals_per_head_loop_with_remainder_passes_and_ragged_answers(untrained_model, task, length):
    examples = evaluation_set(task, length, 12)
    fast = ablate_heads(untrained_model, examples, batch_size=5, max_rows=10)  # 2 heads per pass, then 1
    slow = ablate_heads(untrained_model, examples, batch_size=12, batched=False)
    assert_same_effects(fast, slow)


def test_accuracy_drop_matches_evaluate_exact_match_under_a_hook(trained_model):
    """The drop is clean − ablated accuracy as interp.evaluate defines it, with the head zeroed by a hook."""
    examples = evaluation_set("copy", 3, 48)
    result = ablate_heads(trained_model, examples, kinds=[AblationKind.ZERO])[AblationKind.ZERO]
    clean = exact_match(trained_model, examples).mean()
    for layer, head in [(0, 0), (1, 1)]:
        def zero(z, hook, head=head):
            z = z.clone()
            z[:, :, head] = 0
            return z

        with trained_model.hooks(fwd_hooks=[(get_act_name("z", layer), zero)]):
            ablated = exact_match(trained_model, examples).mean()
        assert result.accuracy_drop()[layer, head] == pytest.approx(clean - ablated, abs=1e-12)
    assert result.accuracy_drop().max() > 0.2, "a trained model needs some of its heads"


def test_a_head_without_output_weights_has_no_effect(trained_run):
    model = load_run(trained_run).model
    with torch.no_grad():
        model.blocks[1].attn.W_O[0] = 0
    results = ablate_heads(model, evaluation_set("reverse", 4, 24))
    for result in results.values():
        assert result.accuracy_drop()[1, 0] == 0
        assert abs(result.logprob_drop()[1, 0]) < 1e-6
        assert np.abs(result.logprob_drop()).max() > 1e-2


def test_mean_is_taken_per_position_over_the_examples_that_reach_it(untrained_model):
    examples = evaluation_set("path", 6, 20)  # paths of different lengths: rows end at different positions
    assert len(np.unique(examples.end)) > 1
    means = mean_head_outputs(untrained_model, examples, batch_size=7)
    with torch.no_grad():
        _, outputs = head_outputs(untrained_model, torch.as_tensor(examples.tokens))
    for layer, z in enumerate(outputs):
        for position in (0, int(examples.end.min()) - 1, int(examples.end.max()) - 1):
            reach = torch.as_tensor(examples.end > position)
            expected = z[reach, position].mean(0)
            torch.testing.assert_close(means[layer][position], expected, rtol=0, atol=1e-6)


@given(st.integers(2, 300), st.integers(0, 2**32 - 1))
def test_resample_donors_are_a_derangement(count, seed):
    donors = derangement(count, seed)
    assert sorted(donors.tolist()) == list(range(count))
    assert not np.any(donors == np.arange(count))


def test_resampling_needs_two_examples():
    with pytest.raises(InterpError, match="at least 2 examples"):
        derangement(1, 0)
